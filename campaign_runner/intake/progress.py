"""A progress bar on stderr, drawn only when stderr is a terminal: a log file or a pipe
gets nothing but the one-line summary the command prints at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

WIDTH = 30


def bar(label: str, stream: TextIO | None = None) -> Callable[[int, int], None] | None:
    """A `progress(done, total)` callback, or None when nobody would see it."""
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def draw(done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = round(share * WIDTH)
        out.write(f"\r{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%}")
        if done >= total:
            out.write("\r" + " " * (len(label) + WIDTH + 8) + "\r")
        out.flush()

    return draw
