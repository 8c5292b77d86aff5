"""Rewrite `.env.example` and the README's settings table from the declarations in `Config`.

Run after adding or changing a setting: `.venv/bin/python scripts/settings_docs.py`.
The tests fail while either file is out of date.
"""

from __future__ import annotations

import re
from pathlib import Path

from campaign_runner.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def env_example() -> str:
    """Every setting, commented out: a copy of this file used as `docker run --env-file` or
    systemd's `EnvironmentFile=` then sets only what its owner uncommented, and never
    overrides what the image or the unit sets."""
    lines = [
        "# campaign-runner settings. Copy to .env (or /etc/campaign-runner/env) and set what",
        "# you need by removing the '# ' before its line. A line left commented, or set",
        "# empty, means the default shown; real environment variables win over this file.",
        "",
    ]
    for s in SETTINGS:
        lines += [f"# {s.help}", f"# ({s.kind.accepts})", f"# {s.name}={s.default}", ""]
    return "\n".join(lines)


def readme_table() -> str:
    rows = ["| variable | default | accepts | what it does |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.name}` | {default} | {s.kind.accepts} | {s.help} |")
    return "\n".join(rows)


def readme(text: str) -> str:
    block = f"{START}\n{readme_table()}\n{END}"
    return re.sub(f"{re.escape(START)}.*?{re.escape(END)}", lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    (ROOT / ".env.example").write_text(env_example())
    path = ROOT / "README.md"
    path.write_text(readme(path.read_text()))
