"""The Postgres schema the migrations build, and what a database lacks of it.

The numbered files of `migrations/` are also the manifest of what the worker needs:
which migration adds each table, column and function (read from the files
themselves, which keep to `create table if not exists`, `add column if not exists`
and `create or replace function`). A store reports what its database has; this
module turns the difference into lines that name the file to apply.

A function that changes its signature is replaced by one with a version suffix
(`cr_roll_up_v2`), never a new word, and the old one stays for the workers of the
previous version; `current.sql` shows the schema all the files build.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, TypeVar

from ..config import ConfigError
from . import read

if TYPE_CHECKING:
    from ..ports import Store

FILE_NAME = re.compile(r"^(\d+)_\w+\.sql$")  # the Supabase CLI's pattern, too
TABLE = re.compile(r"create table if not exists (\w+)", re.IGNORECASE)
ALTER = re.compile(
    r"alter table (\w+)\s+(add column if not exists .*?);", re.IGNORECASE | re.DOTALL
)
COLUMN = re.compile(r"add column if not exists (\w+)", re.IGNORECASE)
FUNCTION = re.compile(r"create or replace function (\w+)", re.IGNORECASE)
COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True)
class Migration:
    version: int
    file: str

    @property
    def text(self) -> str:
        return read(f"migrations/{self.file}")


@dataclass(frozen=True)
class Manifest:
    """What a schema has, and which file creates each part."""

    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Present:
    """What a database has of the parts a manifest names."""

    tables: frozenset[str]
    columns: frozenset[tuple[str, str]]
    functions: frozenset[str]


@cache
def migrations() -> tuple[Migration, ...]:
    found = [
        Migration(int(match.group(1)), entry.name)
        for entry in (files(__package__) / "migrations").iterdir()
        if (match := FILE_NAME.match(entry.name))
    ]
    return tuple(sorted(found, key=lambda m: m.version))


def latest() -> int:
    return migrations()[-1].version


def pending(version: int) -> list[Migration]:
    return [m for m in migrations() if m.version > version]


@cache
def manifest() -> Manifest:
    wanted = Manifest()
    for migration in migrations():
        text = COMMENT.sub("", migration.text)
        for table in TABLE.findall(text):
            wanted.tables.setdefault(table, migration.file)
        for table, clauses in ALTER.findall(text):
            for column in COLUMN.findall(clauses):
                wanted.columns.setdefault((table, column), migration.file)
        for function in FUNCTION.findall(text):
            wanted.functions.setdefault(function, migration.file)
    return wanted


def missing(wanted: Manifest, present: Present) -> list[str]:
    """Each table, column or function of `wanted` that is not `present`, grouped by the
    file that adds it (a column of a missing table is not named again)."""
    by_file: dict[tuple[str, str], list[str]] = defaultdict(list)
    for table, file in wanted.tables.items():
        if table not in present.tables:
            by_file["table", file].append(table)
    for (table, column), file in wanted.columns.items():
        if table in present.tables and (table, column) not in present.columns:
            by_file["column", file].append(f"{table}.{column}")
    for function, file in wanted.functions.items():
        if function not in present.functions:
            by_file["function", file].append(function)
    return [
        f"missing {kind}{'s' if len(names) > 1 else ''} {', '.join(names)}, added by {file}"
        for (kind, file), names in by_file.items()
    ]


class SchemaBehind(ConfigError):
    """The database lacks migrations this build needs; the message names them."""


def behind(version: int) -> str:
    """What to do about a database at `version`: run migrate, and which files it applies."""
    return "run `campaign-runner migrate` to apply " + ", ".join(m.file for m in pending(version))


S = TypeVar("S", bound="Store")


def require_schema(store: S) -> S:
    """The store, if its database has every migration this build needs; a worker
    must not start on a schema it does not know. A store whose schema is not
    versioned (`schema_version()` None) keeps it current itself."""
    version = store.schema_version()
    if version is not None and version < latest():
        store.close()
        raise SchemaBehind(
            f"the database at {store.where} is at schema version {version}, this build needs "
            f"{latest()}: {behind(version)}"
        )
    return store
