"""The lease trial once (see `trial.py`; `python -m bench.lease_trial` repeats the
issue's longer one): four workers with a 5 s lease, Postgres stopped with
`-m immediate` for 15 s twice, SparkPost slower than the lease, slower than its
timeout, refusing some recipients, and killed once."""

from __future__ import annotations

from pathlib import Path

from . import trial
from .workers import ForkServer


def test_leases_outlive_outages_and_known_outcomes_win(
    tmp_path: Path, forkserver: ForkServer
) -> None:
    result = trial.run(trial.Plan.suite(), forkserver, tmp_path, say=print)

    assert not result.failures, "\n".join([trial.dump(result), *result.failures])
    # The trial tried what it means to: answers that reached their worker, some of
    # them late (the database away, or the lease lost meanwhile), and renewals failing.
    assert result.accepted_known >= result.rows // 2, trial.dump(result)
    assert result.renewal_failures > 0, trial.dump(result)
    print(trial.dump(result), result.lost)
