"""Rewrite `.env.example` and the README's settings table from `config.SETTINGS`.

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
    lines = [
        "# campaign-runner settings, with their defaults. Copy to .env and edit;",
        "# real environment variables win over this file. Empty means the default.",
        "",
    ]
    for setting in SETTINGS:
        lines += [f"# {setting.help}", f"{setting.name}={setting.default}", ""]
    return "\n".join(lines)


def readme_table() -> str:
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.name}` | {default} | {s.help} |")
    return "\n".join(rows)


def readme(text: str) -> str:
    block = f"{START}\n{readme_table()}\n{END}"
    return re.sub(f"{re.escape(START)}.*?{re.escape(END)}", lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    (ROOT / ".env.example").write_text(env_example())
    path = ROOT / "README.md"
    path.write_text(readme(path.read_text()))
