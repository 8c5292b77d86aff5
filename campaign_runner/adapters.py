"""Wiring: which Store, Generator and Sender the config asks for.

The Groq and Supabase SDKs are imported only when chosen: the embedded path
never needs them, and together they cost about 24 MB of memory and half a
second of start-up (see docs/benchmarks.md, footprint).
"""

from __future__ import annotations

from .config import Config, ConfigError
from .generators.template import TemplateGenerator
from .metrics import Metrics
from .pipeline import Clock, Pipeline, utc_now
from .ports import Generator, Sender, Store
from .render import Renderer
from .senders.outbox import OutboxSender
from .senders.sparkpost import SparkPostSender, transactional
from .sql.schema import require_schema
from .stores.postgres import PostgresStore
from .stores.sqlite import SqliteStore, path_from_url
from .unsubscribe import links_for


def open_store(config: Config) -> Store:
    """The store, once its database has the schema this build needs (`SchemaBehind`)."""
    return require_schema(store_for(config))


def store_for(config: Config) -> Store:
    """The store the config names, whatever its schema (for `check`)."""
    if config.store == "sqlite":
        return SqliteStore(path_from_url(config.database_url))
    if config.store == "postgres":
        return PostgresStore(config.database_url)
    if config.store == "supabase":
        from .stores.supabase import SupabaseStore

        return SupabaseStore(config.supabase_url, config.supabase_service_role_key)
    raise ConfigError(f"the {config.store} store is not available in this build")


def make_generator(config: Config, metrics: Metrics | None = None) -> Generator:
    if config.generator == "template":
        return TemplateGenerator(explicit=config.generator_explicit)
    if config.generator == "groq":
        from .generators.groq import GroqGenerator

        return GroqGenerator(config, metrics=metrics)
    raise ConfigError(f"GENERATOR={config.generator}: not available in this build")


def make_sender(config: Config) -> Sender:
    if config.sender == "outbox":
        return OutboxSender(config.outbox_dir)
    if config.sender == "sparkpost":
        return SparkPostSender(config)
    raise ConfigError(f"SENDER={config.sender}: not available in this build")


def make_renderer(config: Config) -> Renderer:
    return Renderer(
        links=links_for(
            config.unsubscribe_base_url, config.unsubscribe_url, config.unsubscribe_secret
        ),
        sender_address=config.sender_address,
        reply_address=config.reply_address,
        # Non-transactional SparkPost mail: SparkPost suppresses whoever clicks this link.
        msys_unsubscribe=config.sender == "sparkpost" and not transactional(config),
    )


def build_pipeline(
    config: Config,
    store: Store,
    clock: Clock = utc_now,
    *,
    dry_run: bool = False,
    metrics: Metrics | None = None,
) -> Pipeline:
    """`metrics`: the counters `/metrics` serves (see `web.start_http`); without them the
    pipeline counts into a registry nobody reads."""
    metrics = metrics or Metrics()
    return Pipeline(
        config,
        store=store,
        generator=make_generator(config, metrics),
        # A dry run never calls its sender, so it needs no sending key.
        sender=OutboxSender(config.outbox_dir) if dry_run else make_sender(config),
        renderer=make_renderer(config),
        clock=clock,
        metrics=metrics,
    )
