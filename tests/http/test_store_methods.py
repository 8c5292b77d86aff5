"""The two store methods the unsubscribe endpoint needs, on each store that has them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from campaign_runner.ports import Pacing
from campaign_runner.stores.rows import parse_time
from tests.stores.conftest import FACTORIES
from tests.stores.kits import T0, Kit


@pytest.fixture(params=["sqlite", "postgres"])
def kit(request: pytest.FixtureRequest) -> Iterator[Kit]:
    yield from FACTORIES[request.param](request)


def test_the_address_of_a_row(kit: Kit) -> None:
    email_id = kit.seed.email(kit.seed.campaign(), to_email="Ana.Ruiz@Example.org ")

    assert kit.store.recipient_of(email_id) == "Ana.Ruiz@Example.org "  # type: ignore[attr-defined]


def test_a_row_that_is_gone_has_no_address(kit: Kit) -> None:
    email_id = kit.seed.email(kit.seed.campaign())
    kit.seed.execute("delete_email", {"id": email_id})

    assert kit.store.recipient_of(email_id) is None  # type: ignore[attr-defined]
    assert not kit.store.suppress_recipient_of(email_id, "unsubscribed", "t", T0)  # type: ignore[attr-defined]


def test_suppressing_the_recipient_of_a_row_is_what_the_claim_sees(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    email_id = kit.seed.email(campaign, to_email=" Ana.Ruiz@Example.org")
    later = kit.seed.email(campaign, to_email="ana.ruiz@example.org")

    assert kit.store.suppress_recipient_of(email_id, "unsubscribed", "page", T0)  # type: ignore[attr-defined]
    assert kit.store.suppress_recipient_of(  # type: ignore[attr-defined]
        email_id, "again", "elsewhere", T0 + timedelta(hours=1)
    )

    row = kit.seed.fetch("suppression_row", {"email": "ana.ruiz@example.org"})
    assert row is not None
    assert (row["reason"], row["source"]) == ("unsubscribed", "page")  # the first one stands
    assert parse_time(row["created_at"]) == T0
    claimed = {e.id: e for e in kit.store.claim("w1", 10, T0, Pacing())}
    assert claimed[email_id].suppressed and claimed[later].suppressed
