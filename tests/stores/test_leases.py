"""Store contract: leases renewed while held, and the known outcome that wins late."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from campaign_runner.models import Content, Outcome
from campaign_runner.ports import Pacing

from .kits import T0, Kit

WORKER = "worker-a"
LEASE = 60


def test_renewal_moves_the_lease_of_every_row_held_and_none_other(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    for _ in range(4):
        kit.seed.email(campaign)
    mine = kit.store.claim(WORKER, 3, T0, Pacing())
    (theirs,) = kit.store.claim("worker-b", 1, T0, Pacing())
    kit.store.finish(mine[2], WORKER, Outcome("sent", provider_message_id="1"), T0)
    later = T0 + timedelta(seconds=40)
    updated = kit.seed.email_row(mine[0].id)["updated_at"]

    ids = [email.id for email in mine] + [theirs.id]
    assert kit.store.renew_leases(WORKER, ids, later) == 2

    locked = {email.id: kit.seed.email_row(email.id)["locked_at"] for email in [*mine, theirs]}
    assert locked == {mine[0].id: later, mine[1].id: later, mine[2].id: T0, theirs.id: T0}
    assert kit.seed.email_row(mine[0].id)["updated_at"] == updated  # its data did not change


def test_a_renewed_lease_is_not_stale_and_one_left_to_run_out_is(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    kit.seed.email(campaign)
    kept, dropped = kit.store.claim(WORKER, 2, T0, Pacing())
    kit.store.start_send(kept, WORKER, Content("s", "b"), T0)
    kit.store.start_send(dropped, WORKER, Content("s", "b"), T0)
    for n in range(1, 4):  # renewed every LEASE / 3, for a whole lease and more
        kit.store.renew_leases(WORKER, [kept.id], T0 + timedelta(seconds=n * LEASE / 3))

    recovered = kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))

    assert recovered == Counter({"failed": 1})
    assert kit.seed.email_row(kept.id)["status"] == "processing"
    assert kit.seed.email_row(dropped.id)["error"].startswith("ambiguous: interrupted")


def test_starting_the_send_renews_the_lease(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    started = T0 + timedelta(seconds=LEASE - 1)  # it waited nearly a lease for its content

    kit.store.start_send(email, WORKER, Content("s", "b"), started)

    assert kit.seed.email_row(email.id)["locked_at"] == started
    assert kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1)) == Counter()


def test_renewing_nothing_held_anymore_renews_nothing(kit: Kit) -> None:
    campaign = kit.seed.campaign()
    kit.seed.email(campaign)
    (email,) = kit.store.claim(WORKER, 1, T0, Pacing())
    kit.store.recover_stale(LEASE, 3, T0 + timedelta(seconds=LEASE + 1))

    assert kit.store.renew_leases(WORKER, [email.id], T0 + timedelta(seconds=LEASE + 2)) == 0
    assert kit.seed.email_row(email.id)["status"] == "queued"
