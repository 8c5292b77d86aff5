"""`campaign-runner migrate`: the numbered files of `sql/migrations`, applied in order.

The files are also the Supabase CLI's (`supabase/migrations` links to them), so
each records its own version in `cr_schema_migrations`, whichever tool applies
it. Here each pending file runs in its own transaction under an advisory lock,
so two `migrate` runs at once apply nothing twice, and a file that fails leaves
nothing half done. A file already recorded is skipped: running `migrate` again
changes nothing.

The files are also the manifest of what the worker needs: `check` reads from
them which migration adds each table, column and function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Protocol, TypeVar, runtime_checkable

import psycopg

from . import sql
from .config import Config, ConfigError
from .stores.postgres import connect, describe, scrub

CATALOG = sql.queries("postgres/catalog.sql")
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
        return sql.read(f"migrations/{self.file}")


@dataclass(frozen=True)
class Manifest:
    """What the migrations create, and which file creates each."""

    tables: dict[str, str]
    columns: dict[tuple[str, str], str]
    functions: dict[str, str]


@cache
def migrations() -> tuple[Migration, ...]:
    found = [
        Migration(int(match.group(1)), entry.name)
        for entry in (files(sql.__name__) / "migrations").iterdir()
        if (match := FILE_NAME.match(entry.name))
    ]
    return tuple(sorted(found, key=lambda m: m.version))


def latest() -> int:
    return migrations()[-1].version


def pending(version: int) -> list[Migration]:
    return [m for m in migrations() if m.version > version]


@cache
def manifest() -> Manifest:
    tables: dict[str, str] = {}
    columns: dict[tuple[str, str], str] = {}
    functions: dict[str, str] = {}
    for migration in migrations():
        text = COMMENT.sub("", migration.text)
        for table in TABLE.findall(text):
            tables.setdefault(table, migration.file)
        for table, clauses in ALTER.findall(text):
            for column in COLUMN.findall(clauses):
                columns.setdefault((table, column), migration.file)
        for function in FUNCTION.findall(text):
            functions.setdefault(function, migration.file)
    return Manifest(tables, columns, functions)


class SchemaBehind(ConfigError):
    """The database lacks migrations this build needs; the message names them."""


@runtime_checkable
class Versioned(Protocol):
    def schema_version(self) -> int: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=Versioned)


def require_schema(store: S, where: str) -> S:
    """The store, if its database has every migration this build needs; a worker
    must not start on a schema it does not know."""
    version = store.schema_version()
    if version < latest():
        store.close()
        raise SchemaBehind(
            f"the database at {where} is at schema version {version}, this build needs "
            f"{latest()}: run `campaign-runner migrate` to apply "
            + ", ".join(m.file for m in pending(version))
        )
    return store


def applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    (exists,) = conn.execute(CATALOG["migrations_table"]).fetchone() or (False,)
    if not exists:
        return set()
    return {version for (version,) in conn.execute(CATALOG["applied_versions"])}


def apply(database_url: str) -> list[Migration]:
    """Apply what is pending; the migrations applied now (none when up to date)."""
    applied: list[Migration] = []
    with connect(database_url) as conn:
        for migration in migrations():
            try:
                with conn.transaction():
                    conn.execute(CATALOG["lock"])
                    if migration.version in applied_versions(conn):
                        continue
                    conn.execute(migration.text)
                    if migration.version not in applied_versions(conn):
                        raise ConfigError(f"{migration.file} does not record its version")
            except psycopg.Error as exc:
                raise ConfigError(
                    f"{migration.file} failed on {describe(database_url)} and was rolled back: "
                    f"{scrub(database_url, str(exc))}"
                ) from None
            applied.append(migration)
    return applied


def main(cfg: Config) -> int:
    """The `migrate` command."""
    url = cfg.database_url
    if not url.startswith(("postgresql://", "postgres://")):
        if cfg.store == "sqlite":
            print(f"The sqlite store ({url}) creates its schema on first use: nothing to migrate.")
            return 0
        raise ConfigError(
            "DATABASE_URL: migrate needs postgresql://... (for Supabase, the project's "
            "database connection string), or apply supabase/migrations with the Supabase CLI"
        )
    done = apply(url)
    for migration in done:
        print(f"applied {migration.file}")
    print(f"{describe(url)}: schema at version {latest()}" + ("" if done else ", nothing to apply"))
    return 0
