"""Wiring: which Store, Generator and Sender the config asks for."""

from __future__ import annotations

from .config import Config, ConfigError
from .generators.template import TemplateGenerator
from .pipeline import Clock, Pipeline, utc_now
from .ports import Generator, Sender, Store
from .render import Renderer
from .senders.outbox import OutboxSender
from .stores.sqlite import SqliteStore, path_from_url


def open_store(config: Config) -> Store:
    if config.store == "sqlite":
        return SqliteStore(path_from_url(config.database_url))
    raise ConfigError(f"the {config.store} store is not available in this build")


def make_generator(config: Config) -> Generator:
    if config.generator == "template":
        return TemplateGenerator(explicit=config.generator_explicit)
    raise ConfigError(f"GENERATOR={config.generator}: not available in this build")


def make_sender(config: Config) -> Sender:
    if config.sender == "outbox":
        return OutboxSender(config.outbox_dir)
    raise ConfigError(f"SENDER={config.sender}: not available in this build")


def make_renderer(config: Config) -> Renderer:
    return Renderer(unsubscribe_url=config.unsubscribe_url, sender_address=config.sender_address)


def build_pipeline(config: Config, store: Store, clock: Clock = utc_now) -> Pipeline:
    return Pipeline(
        config,
        store=store,
        generator=make_generator(config),
        sender=make_sender(config),
        renderer=make_renderer(config),
        clock=clock,
    )
