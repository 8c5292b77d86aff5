"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Machine:
    cpus: int  # what `nproc` says: the CPUs this process may run on
    memory_gib: float
    system: str
    python: str
    postgres: str
    date: str

    def describe(self) -> str:
        return (
            f"{self.cpus} CPUs (`nproc`), {self.memory_gib} GiB of memory, {self.system}, "
            f"Python {self.python}, PostgreSQL {self.postgres}"
        )


def this_machine(postgres_version: str) -> Machine:
    return Machine(
        cpus=len(os.sched_getaffinity(0)),
        memory_gib=_memory_gib(),
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        postgres=postgres_version,
        date=datetime.now(UTC).date().isoformat(),
    )


def _memory_gib() -> float:
    for line in MEMINFO.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)  # reported in KiB
    return 0.0
