"""Contact files as people make them: spreadsheets' quirks read, broken lines refused
with their line number, a file that cannot be read refused as a whole."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from campaign_runner.intake import contacts
from campaign_runner.intake.contacts import FileRefused

EXAMPLE = Path(__file__).parents[2] / "examples" / "contacts.csv"


def test_every_other_column_becomes_a_field_and_names_come_from_the_name_columns() -> None:
    read = contacts.parse(
        b"Email,First Name,Last Name,Company\nAna@Example.ORG,Ana,Ruiz,Ruiz & Co\n"
    )

    assert read.columns == ["first_name", "last_name", "company"]
    [ana] = read.contacts
    assert ana.email == "Ana@example.org"  # the domain lower-cased, the local part kept
    assert ana.to_name == "Ana Ruiz"
    assert ana.fields == {"first_name": "Ana", "last_name": "Ruiz", "company": "Ruiz & Co"}


def test_empty_cells_are_left_out_so_templates_see_them_as_missing() -> None:
    [row] = contacts.parse(b"email,name,city\nben@example.net,Ben Okafor,\n").contacts

    assert row.fields == {"name": "Ben Okafor"}
    assert row.to_name == "Ben Okafor"


def test_a_byte_order_mark_semicolons_and_quoted_newlines_read_as_meant() -> None:
    raw = (
        b"\xef\xbb\xbfemail;company;note\n"
        b'a@example.com;"Ruiz; Co";"two\nlines"\n'
        b"b@example.com;B;x\n"
    )

    read = contacts.parse(raw)

    assert [c.email for c in read.contacts] == ["a@example.com", "b@example.com"]
    assert read.contacts[0].fields == {"company": "Ruiz; Co", "note": "two\nlines"}
    assert [c.line for c in read.contacts] == [2, 4]  # the quoted newline moves b down


def test_tabs_are_a_separator_too() -> None:
    read = contacts.parse(b"email\tcity\na@example.com\tLagos\n")

    assert read.contacts[0].fields == {"city": "Lagos"}


def test_refused_lines_say_which_and_why_and_the_others_go_on() -> None:
    raw = (
        b"email,first_name\n"
        b"ana@example.org,Ana\n"  # 2
        b"not-an-address,Bad\n"  # 3
        b",Nobody\n"  # 4
        b"\n"  # 5: blank, ignored
        b"ana@EXAMPLE.org,Again\n"  # 6: duplicate
        b"ben@example.net,Ben,extra\n"  # 7: shifted
        b"chloe@example.com\n"  # 8: short
        b"dev@example.org,Dev,,\n"  # 9: trailing empty cells are fine
    )

    read = contacts.parse(raw)

    assert [c.email for c in read.contacts] == ["ana@example.org", "dev@example.org"]
    assert [line for line, _ in read.refused] == [3, 4, 7, 8]
    reasons = dict(read.refused)
    assert "'not-an-address' is not a valid address" in reasons[3]
    assert reasons[4] == "the email column is empty"
    assert reasons[7] == "3 values where the header has 2 columns"
    assert reasons[8] == "1 values where the header has 2 columns"
    assert read.duplicates == 1
    assert read.lines == 7


def test_a_nul_byte_refuses_its_line() -> None:
    read = contacts.parse(b"email,name\na@example.com,A\x00na\nb@example.com,B\n")

    assert [c.email for c in read.contacts] == ["b@example.com"]
    assert read.refused == [(2, "a value holds a NUL byte; is this really a text file?")]


def test_fifty_megabytes_on_one_line_is_that_line_refused() -> None:
    raw = (
        b"email,note\na@example.com,ok\nb@example.com,"
        + b"x" * 50_000_000
        + b"\nc@example.com,ok\n"
    )

    read = contacts.parse(raw)

    assert [c.email for c in read.contacts] == ["a@example.com", "c@example.com"]
    [(line, reason)] = read.refused
    assert line == 3
    assert reason.startswith("a value of 50,000,000 characters")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"name,company\nAna,Ruiz\n", "line 1: no email column; the header has 'name', 'company'"),
        (b"", "line 1: no email column; the header has nothing"),
        (b"email,City,city\na@example.com,x,y\n", "columns 2 and 3 are both 'city'"),
        (
            b"email,name\na@example.com,Ana\nb@example.com,Ren\xe9\n",
            "line 3: byte 0xe9 at column 18",
        ),
        (b'email,name\na@example.com,"open\nb@example.com,B\n', "line 2: cannot read as CSV: "),
        (b'email,name\na@example.com,A\nb@example.com,"B" x\n', "line 3: cannot read as CSV: "),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_its_line(raw: bytes, message: str) -> None:
    with pytest.raises(FileRefused) as refused:
        contacts.parse(raw)

    assert message in str(refused.value)


def test_a_file_that_cannot_be_opened_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match=r"nothing\.csv: cannot read"):
        contacts.read(tmp_path / "nothing.csv")


def test_progress_is_reported_up_to_the_end() -> None:
    seen: list[tuple[int, int]] = []
    raw = b"email\n" + b"".join(b"u%d@example.com\n" % i for i in range(5000))

    contacts.parse(raw, lambda done, total: seen.append((done, total)))

    assert seen[-1] == (5002, 5002)
    assert len(seen) > 2 and all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))


def test_the_example_file_in_the_repository_reads() -> None:
    read = contacts.read(EXAMPLE)

    assert len(read.contacts) == 4
    assert [line for line, _ in read.refused] == [6]
