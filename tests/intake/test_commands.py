"""The put-work-in commands on bad input: one line that names the problem, exit code 2,
nothing written; test-send changes nothing; a frontend's requests are done by the
worker's next cycle. Through the real command line on the embedded store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.fakes.groq_server import GOOD_BODY, GOOD_SUBJECT, running

from .test_end_to_end import EXAMPLES, Cli

GOOD = """key = "k"
name = "Campaign K"
subject = "Hi {{ first_name }}"
body = "Hello {{ first_name }}"
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def tables(tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Everything the store holds, for before/after comparisons."""
    with sqlite3.connect(tmp_path / "queue.db") as db:
        names = [n for (n,) in db.execute("select name from sqlite_master where type = 'table'")]
        dump = {n: sorted(map(repr, db.execute(f"select * from {n}"))) for n in names}
    db.close()
    return dump  # type: ignore[return-value]


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def one_line(done: object) -> str:
    lines = done.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def ready(cli: Cli, tmp_path: Path) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "k.toml", GOOD))
    cli.ok("domains", "add", "news@acme.example.com")
    cli.ok(
        "import",
        write(tmp_path, "c.csv", "email,first_name\na@example.org,Ana\n"),
        "--campaign",
        "k",
    )
    cli.ok("stage", "k")


def test_a_bad_campaign_file_is_one_line_naming_the_key_and_writes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("migrate")
    before = tables(tmp_path)

    unknown = cli("campaign", "apply", write(tmp_path, "a.toml", GOOD + 'colour = "red"\n'))
    broken = cli(
        "campaign", "apply", write(tmp_path, "b.toml", GOOD.replace('}}"\nbody', '"\nbody'))
    )
    hours = cli(
        "campaign", "apply", write(tmp_path, "c.toml", GOOD + "[schedule]\nend_hour = 25\n")
    )

    assert unknown.returncode == broken.returncode == hours.returncode == 2
    assert "colour: unknown key" in one_line(unknown)
    assert "subject: template does not compile" in one_line(broken)
    assert "schedule.end_hour = 25" in one_line(hours)
    assert tables(tmp_path) == before


def test_a_launched_campaign_refuses_a_changed_body_and_says_why(cli: Cli, tmp_path: Path) -> None:
    ready(cli, tmp_path)
    cli.ok("launch", "k")
    before = tables(tmp_path)

    changed = cli("campaign", "apply", write(tmp_path, "k2.toml", GOOD.replace("Hello", "Howdy")))
    renamed = cli("campaign", "apply", write(tmp_path, "k3.toml", GOOD.replace('K"', 'Kay"')))

    assert changed.returncode == 2
    line = one_line(changed)
    assert line.startswith("campaign-runner: campaign 'k' is scheduled, so the file may only")
    assert "body: rows already sent or waiting would get different text" in line
    assert renamed.returncode == 0 and "updated campaign 'k'" in renamed.stdout
    assert tables(tmp_path)["email_queue"] == before["email_queue"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,company\nAna,Ruiz\n", "line 1: no email column"),
        (b"email,name\na@example.org,Ana\nb@example.org,Ren\xe9\n", "line 3: byte 0xe9"),
    ],
)
def test_a_contacts_file_that_cannot_be_read_is_refused_whole(
    cli: Cli, tmp_path: Path, data: bytes, message: str
) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "k.toml", GOOD))
    before = tables(tmp_path)

    done = cli("import", write(tmp_path, "c.csv", data), "--campaign", "k")

    assert done.returncode == 2
    assert message in one_line(done)
    assert tables(tmp_path) == before


def test_an_import_into_an_unknown_campaign_is_refused(cli: Cli, tmp_path: Path) -> None:
    done = cli("import", str(EXAMPLES / "contacts.csv"), "--campaign", "nope")

    assert done.returncode == 2
    assert "no campaign with key or id 'nope'" in one_line(done)


def test_an_import_without_a_terminal_draws_no_progress(cli: Cli, tmp_path: Path) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "k.toml", GOOD))
    rows = "".join(f"p{i}@example.org,P{i}\n" for i in range(5000))

    done = cli("import", write(tmp_path, "c.csv", "email,first_name\n" + rows), "--campaign", "k")

    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.count("\n") == 1 and "imported 5,000 contacts" in done.stdout


def test_launch_without_a_sending_address_is_refused_with_the_reason(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "k.toml", GOOD))
    cli.ok("import", write(tmp_path, "c.csv", "email\na@example.org\n"), "--campaign", "k")
    cli.ok("stage", "k")
    before = tables(tmp_path)

    done = cli("launch", "k")

    assert done.returncode == 2
    assert one_line(done) == (
        "campaign-runner: no active sending address: add one with "
        "`campaign-runner domains add ADDRESS`"
    )
    assert tables(tmp_path) == before


def test_test_send_changes_no_row_no_counter_no_pacing_and_refuses_a_suppressed_address(
    cli: Cli, tmp_path: Path
) -> None:
    ready(cli, tmp_path)
    cli.ok("launch", "k")
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.execute("insert into suppressions (email, reason) values ('no@example.com', 'x')")
    db.close()
    before = tables(tmp_path)

    sent = cli("test-send", "k", "--to", "me@example.com")
    refused = cli("test-send", "k", "--to", "No@Example.com")

    assert sent.returncode == 0, sent.stderr
    assert "Subject: [TEST] Hi Ana" in sent.stdout
    assert refused.returncode == 2
    assert "No@example.com is on the suppression list" in one_line(refused)
    assert tables(tmp_path) == before


SEQUENCE = """key = "s"
name = "Sequence S"
[[steps]]
subject = "Hi {{ first_name }}"
body = "First, {{ first_name }}"
subject_b = "Hello {{ first_name }}"
body_b = "First B, {{ first_name }}"
[[steps]]
delay_days = 2
body = "Second, {{ first_name }}"
body_b = "Second B"
"""


def test_test_send_of_a_sequence_renders_the_step_asked_for_and_changes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "s.toml", SEQUENCE))
    cli.ok("domains", "add", "news@acme.example.com")
    contacts = write(tmp_path, "c.csv", "email,first_name\na@example.org,Ana\n")
    cli.ok("import", contacts, "--campaign", "s")
    cli.ok("stage", "s")
    before = tables(tmp_path)

    first = cli.ok("test-send", "s", "--to", "me@example.com")
    second = cli.ok("test-send", "s", "--to", "me@example.com", "--step", "2", "--variant", "B")
    missing = cli("test-send", "s", "--to", "me@example.com", "--step", "3")

    assert "Subject: [TEST] Hi Ana" in first and "First, Ana" in first
    # No subject of its own: it answers the thread of variant B's first step.
    assert "Subject: [TEST] Re: Hello Ana" in second and "Second B" in second
    assert missing.returncode == 2
    assert one_line(missing) == "campaign-runner: campaign 'Sequence S' has no step 3"
    assert tables(tmp_path) == before


def test_rows_in_csv_have_the_stable_header(cli: Cli, tmp_path: Path) -> None:
    ready(cli, tmp_path)

    done = cli.ok("rows", "k", "--csv")

    header, row = done.splitlines()
    assert header == (
        "id,to_email,to_name,status,failure_kind,error,from_email,scheduled_for,sent_at,"
        "attempts,provider_message_id,delivered_at,opened_at,clicked_at,bounced_at,"
        "bounce_class,complained_at,unsubscribed_at,lead_id,step_number,variant,send_before"
    )
    assert ",a@example.org,Ana,staged," in row


def test_the_worker_does_a_frontends_requests_on_its_next_cycle(cli: Cli, tmp_path: Path) -> None:
    cli.ok("campaign", "apply", write(tmp_path, "k.toml", GOOD))
    cli.ok("campaign", "apply", write(tmp_path, "j.toml", GOOD.replace('"k"', '"j"')))
    cli.ok(
        "import",
        write(tmp_path, "c.csv", "email,first_name\na@example.org,Ana\n"),
        "--campaign",
        "k",
    )
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.execute(
            "update campaigns set stage_requested_at = '2026-11-23T17:00:00+00:00', "
            "launch_requested_at = '2026-11-23T17:00:00+00:00'"
        )
    db.close()

    cli.ok("--once")  # no sending address yet: both launches are refused, k is staged
    cli.ok("domains", "add", "news@acme.example.com")
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.execute("update campaigns set launch_requested_at = '2026-11-23T17:01:00+00:00'")
        refused = dict(db.execute("select key, request_error from campaigns"))
    db.close()
    cli.ok("--once")  # k launched and sent; j has nothing staged
    rows = json.loads(cli.ok("rows", "k", "--json"))

    assert refused["k"] == (
        "no active sending address: add one with `campaign-runner domains add ADDRESS`"
    )
    assert [r["status"] for r in rows["rows"]] == ["sent"]
    with sqlite3.connect(tmp_path / "queue.db") as db:
        left = list(
            db.execute(
                "select key, stage_requested_at, launch_requested_at, request_error from campaigns "
                "order by key"
            )
        )
    db.close()
    assert left == [
        (
            "j",
            None,
            None,
            "nothing is staged: import contacts and run `campaign-runner stage` first",
        ),
        ("k", None, None, None),
    ]


AI_ONLY = """key = "ai"
name = "Written by the model"
ai_prompt = "A short note offering a 15-minute call about closing the books faster."
"""


def test_test_send_includes_generated_content_and_saves_none_of_it(
    tmp_path: Path,
) -> None:
    with running() as groq:
        cli = Cli(tmp_path, GENERATOR="groq", GROQ_API_KEY=groq.api_key, GROQ_BASE_URL=groq.url)
        cli.ok("campaign", "apply", write(tmp_path, "ai.toml", AI_ONLY))
        cli.ok("domains", "add", "sam@send1.ledgerly.example.com")
        cli.ok(
            "import",
            write(tmp_path, "c.csv", "email,first_name\na@example.org,Ana\n"),
            "--campaign",
            "ai",
        )
        cli.ok("stage", "ai")
        before = tables(tmp_path)

        sent = cli.ok("test-send", "ai", "--to", "me@example.com")

        assert len(groq.answered()) == 1
    assert f"Subject: [TEST] {GOOD_SUBJECT}" in sent
    assert GOOD_BODY.splitlines()[0] in sent
    assert tables(tmp_path) == before  # the row's body is still empty: written when it is sent
