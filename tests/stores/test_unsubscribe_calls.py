"""The two store calls the unsubscribe endpoint makes, on every store (`cr_recipient_of`
and `cr_suppress_recipient_of` of migration 0007 behind the Postgres family)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from campaign_runner.ports import Pacing
from campaign_runner.stores.rows import parse_time

from .kits import T0, Kit


def test_the_address_of_a_row_as_written(kit: Kit) -> None:
    email_id = kit.seed.email(kit.seed.campaign(), to_email="Ana.Ruiz@Example.org ")

    assert kit.store.recipient_of(email_id) == "Ana.Ruiz@Example.org "


def test_a_row_that_is_gone_has_no_address_and_suppresses_nothing(kit: Kit) -> None:
    email_id = kit.seed.email(kit.seed.campaign(), to_email="gone@example.org")
    kit.seed.execute("delete_email", {"id": email_id})

    assert kit.store.recipient_of(email_id) is None
    assert kit.store.suppress_recipient_of(email_id, "unsubscribed", "t", T0) is False
    assert kit.seed.fetch("suppression_row", {"email": "gone@example.org"}) is None


def test_a_row_never_there_has_no_address(kit: Kit) -> None:
    assert kit.store.recipient_of(str(uuid.uuid4())) is None
    assert kit.store.suppress_recipient_of(str(uuid.uuid4()), "unsubscribed", "t", T0) is False


def test_a_row_without_an_address_suppresses_nothing(kit: Kit) -> None:
    email_id = kit.seed.email(kit.seed.campaign(), to_email="  ")

    assert kit.store.recipient_of(email_id) is None
    assert kit.store.suppress_recipient_of(email_id, "unsubscribed", "t", T0) is False
    assert kit.seed.fetch("suppression_row", {"email": ""}) is None


def test_suppressing_the_recipient_of_a_row_is_what_the_claim_sees(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    email_id = kit.seed.email(campaign, to_email=" Ana.Ruiz@Example.org")
    later = kit.seed.email(campaign, to_email="ana.ruiz@example.org")
    other = kit.seed.email(campaign, to_email="someone.else@example.org")

    assert kit.store.suppress_recipient_of(email_id, "unsubscribed", "page", T0) is True
    assert (
        kit.store.suppress_recipient_of(email_id, "again", "elsewhere", T0 + timedelta(hours=1))
        is True
    )

    row = kit.seed.fetch("suppression_row", {"email": "ana.ruiz@example.org"})
    assert row is not None
    assert (row["reason"], row["source"]) == ("unsubscribed", "page")  # the first one stands
    assert parse_time(row["created_at"]) == T0
    claimed = {e.id: e for e in kit.store.claim("w1", 10, T0, Pacing())}
    assert claimed[email_id].suppressed and claimed[later].suppressed
    assert not claimed[other].suppressed
