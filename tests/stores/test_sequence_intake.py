"""`stage` and `launch` of a campaign with sequence steps (issue 18 with 17): its
contacts become leads, launching schedules the campaign, and the dispatcher takes
its leads from then on; a campaign without steps stages and launches rows as before."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from campaign_runner.intake import campaign_file
from campaign_runner.intake.contacts import Contact
from campaign_runner.intake.launch import Rules, planner
from campaign_runner.intake.records import IntakeError

from .kits import T0, Kit
from .sequence_seed import sequence_campaign, step_row
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


FILE = """
key = "follow-ups"
name = "Follow-ups"
ab_testing = true

[[steps]]
subject = "Hi {{ first_name }}"
body = "A first"
subject_b = "Hello {{ first_name }}"
body_b = "B first"
split = 30

[[steps]]
delay_days = 2
body = "Following up"

[[steps]]
delay_days = 1
delay_hours = 12
ai_prompt = "One last, short nudge."
"""


def test_a_campaign_file_with_steps_writes_them_once(kit: Kit) -> None:
    spec = campaign_file.parse(tomllib.loads(FILE))
    frozen = list(campaign_file.FROZEN_ONCE_LAUNCHED)
    applied = kit.store.apply_campaign(spec.key, spec.columns(), frozen, T0)  # type: ignore[attr-defined]
    campaign = applied.campaign_id

    assert kit.store.put_steps(campaign, spec.ab_testing, list(spec.steps), T0) == 3  # type: ignore[attr-defined]
    assert kit.store.put_steps(campaign, spec.ab_testing, list(spec.steps), T0) == 0  # type: ignore[attr-defined]
    first, third = step_row(kit.seed, campaign, 1), step_row(kit.seed, campaign, 3)
    assert (first["variant_b_body"], first["variant_split"]) == ("B first", 30)
    assert bool(third["use_ai_generation"]) and third["delay_hours"] == 12
    assert bool(kit.seed.campaign_row(campaign)["ab_testing_enabled"])
    assert kit.store.put_steps(campaign, True, list(spec.steps[:2]), T0) == 1  # type: ignore[attr-defined]
    with pytest.raises(AssertionError):
        step_row(kit.seed, campaign, 3)


@pytest.mark.parametrize(
    "step, words",
    [
        ('body = "x"\nwhen = 3', "steps[1].when: unknown key"),
        ('subject = "s"', "steps[1].body: missing"),
        ('subject = "s"\nbody = "b"\nsplit = 150', "steps[1].split = 150"),
        ('body = "b"', "steps[1].subject: missing"),
        ('subject = "{{ x"\nbody = "b"', "steps[1].subject: template does not compile"),
    ],
)
def test_a_bad_step_is_refused_naming_its_key(step: str, words: str) -> None:
    with pytest.raises(campaign_file.SpecError, match=re.escape(words)):
        campaign_file.parse(tomllib.loads(f'key = "k"\nname = "n"\n[[steps]]\n{step}\n'))


def test_the_example_sequence_file_applies() -> None:
    spec = campaign_file.load(Path(__file__).parents[2] / "examples" / "sequence.toml")
    assert len(spec.steps) == 3 and spec.ab_testing
    assert spec.steps[1]["variant_a_subject"] is None and spec.steps[2]["use_ai_generation"]
