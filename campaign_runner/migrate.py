"""`campaign-runner migrate`: bring the store's schema to what this build needs.

On Postgres, the numbered files of `sql/migrations` (listed by `sql.schema`), applied
in order. The files are also the Supabase CLI's (`supabase/migrations` links to
them), so each records its own version in `cr_schema_migrations`, whichever tool
applies it. Here each pending file runs in its own transaction under an advisory
lock, so two `migrate` runs at once apply nothing twice, and a file that fails
leaves nothing half done. A file already recorded is skipped: running `migrate`
again changes nothing.

On SQLite, opening the file creates or upgrades its schema: `migrate` opens it and
says which it did, so the file can be made before any work is put in.
"""

from __future__ import annotations

from typing import Any

import psycopg

from . import sql
from .config import Config, ConfigError
from .sql.schema import Migration, latest, migrations
from .stores.postgres import connect, describe, scrub
from .stores.sqlite import SqliteStore, path_from_url

CATALOG = sql.queries("postgres/catalog.sql")


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


def embedded(database_url: str) -> str:
    """Create or upgrade the SQLite file's schema; what was done, in one line."""
    store = SqliteStore(path_from_url(database_url))
    store.close()
    if store.created:
        return f"sqlite at {store.where}: created the schema"
    if store.added:
        return f"sqlite at {store.where}: upgraded the schema (added {', '.join(store.added)})"
    return f"sqlite at {store.where}: schema up to date, nothing to apply"


def main(cfg: Config) -> int:
    """The `migrate` command."""
    url = cfg.database_url
    if cfg.store == "sqlite":
        print(embedded(url))
        return 0
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "DATABASE_URL: migrate needs postgresql://... (for Supabase, the project's "
            "database connection string), or apply supabase/migrations with the Supabase CLI"
        )
    done = apply(url)
    for migration in done:
        print(f"applied {migration.file}")
    print(f"{describe(url)}: schema at version {latest()}" + ("" if done else ", nothing to apply"))
    return 0
