"""Wiring: which Store, Generator and Sender the config asks for.

The Groq and Supabase SDKs are imported only when chosen: the embedded path
never needs them, and together they cost about 24 MB of memory and half a
second of start-up (see docs/benchmarks.md, footprint).
"""

from __future__ import annotations

from .config import Config, ConfigError
from .generators.template import TemplateGenerator
from .migrate import require_schema
from .pipeline import Clock, Pipeline, utc_now
from .ports import Generator, Sender, Store
from .render import Renderer
from .senders.outbox import OutboxSender
from .senders.sparkpost import SparkPostSender, transactional
from .stores.postgres import PostgresStore
from .stores.sqlite import SqliteStore, path_from_url
from .unsubscribe import links_for


def open_store(config: Config) -> Store:
    if config.store == "sqlite":
        return SqliteStore(path_from_url(config.database_url))
    if config.store == "postgres":
        store = PostgresStore(config.database_url)
        return require_schema(store, store.where)
    if config.store == "supabase":
        from .stores.supabase import SupabaseStore

        remote = SupabaseStore(config.supabase_url, config.supabase_service_role_key)
        return require_schema(remote, remote.url)
    raise ConfigError(f"the {config.store} store is not available in this build")


def make_generator(config: Config) -> Generator:
    if config.generator == "template":
        return TemplateGenerator(explicit=config.generator_explicit)
    if config.generator == "groq":
        from .generators.groq import GroqGenerator

        return GroqGenerator(config)
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
        # Non-transactional SparkPost mail: SparkPost suppresses whoever clicks this link.
        msys_unsubscribe=config.sender == "sparkpost" and not transactional(config),
    )


def build_pipeline(config: Config, store: Store, clock: Clock = utc_now) -> Pipeline:
    return Pipeline(
        config,
        store=store,
        generator=make_generator(config),
        sender=make_sender(config),
        renderer=make_renderer(config),
        clock=clock,
    )
