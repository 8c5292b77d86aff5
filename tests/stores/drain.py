"""A worker process for the concurrency tests: claims until nothing is left, writes
down in the database every row it was handed, and finishes each as sent."""

from __future__ import annotations

from datetime import datetime
from threading import Barrier

import psycopg

from campaign_runner.models import Outcome
from campaign_runner.ports import Pacing
from campaign_runner.stores.postgres import PostgresStore


def drain(dsn: str, worker_id: str, batch: int, now: datetime, start: Barrier) -> None:
    store = PostgresStore(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True) as tally:
            start.wait()
            while emails := store.claim(worker_id, batch, now, Pacing()):
                tally.execute(
                    "insert into handouts (email_id, worker) "
                    "select unnest(%(ids)s::uuid[]), %(worker)s",
                    {"ids": [e.id for e in emails], "worker": worker_id},
                )
                for email in emails:
                    outcome = Outcome("sent", provider_message_id=worker_id)
                    if not store.finish(email, worker_id, outcome, now):
                        raise AssertionError(f"{worker_id} lost {email.id}")
    finally:
        store.close()
