"""SQL lives in `.sql` files beside this module and is loaded by name."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def read(path: str) -> str:
    """One whole file, e.g. `read("sqlite/schema.sql")`."""
    return (files(__name__) / path).read_text("utf-8")


@cache
def queries(path: str) -> dict[str, str]:
    """The `-- name: X` sections of a file, each up to the next name."""
    parts = _NAME.split(read(path))
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
