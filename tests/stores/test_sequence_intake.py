"""`stage` and `launch` of a campaign with sequence steps (issue 18 with 17): its
contacts become leads, launching schedules the campaign, and the dispatcher takes
its leads from then on; a campaign without steps stages and launches rows as before."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaign_runner.intake.contacts import Contact
from campaign_runner.intake.launch import Rules, planner
from campaign_runner.intake.records import IntakeError

from .kits import T0, Kit
from .sequence_seed import sequence_campaign
from .test_sequences import ALWAYS, dispatch


def contacts(*addresses: str) -> list[Contact]:
    return [Contact(n, a, f"Lead {n}", {"first_name": f"L{n}"}) for n, a in enumerate(addresses, 1)]


def test_a_sequence_campaign_stages_leads_and_launching_lets_them_go(kit: Kit) -> None:
    store = kit.store
    campaign = sequence_campaign(kit.seed, [{}, {}], status="draft")
    store.import_contacts(campaign, contacts("a@example.org", "b@example.org", "s@example.org"), T0)  # type: ignore[attr-defined]
    kit.seed.suppress("s@example.org")
    plan = planner(Rules(ALWAYS, 0), T0)

    with pytest.raises(IntakeError, match="no active leads"):
        store.launch_campaign(campaign, plan, T0)  # type: ignore[attr-defined]
    staged = store.stage_campaign(campaign, T0)  # type: ignore[attr-defined]
    assert (staged.staged, staged.suppressed, staged.status, staged.what) == (
        2,
        1,
        "staged",
        "lead",
    )
    assert store.stage_campaign(campaign, T0).staged == 0  # type: ignore[attr-defined]  # twice: once
    assert dispatch(kit, T0 + timedelta(minutes=1)).dispatched == {}  # not launched yet

    launched = store.launch_campaign(campaign, plan, T0)  # type: ignore[attr-defined]
    assert (launched.queued, launched.status, launched.what) == (2, "scheduled", "lead")
    assert dispatch(kit, T0 + timedelta(minutes=2)).dispatched == {"queued": 2}
    assert kit.seed.campaign_row(campaign)["status"] in ("scheduled", "sending")


def test_a_campaign_without_steps_stages_rows_as_before(kit: Kit) -> None:
    campaign = kit.seed.campaign("draft")
    kit.store.import_contacts(campaign, contacts("a@example.org"), T0)  # type: ignore[attr-defined]
    staged = kit.store.stage_campaign(campaign, T0)  # type: ignore[attr-defined]
    assert (staged.staged, staged.what) == (1, "row")
