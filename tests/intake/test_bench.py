"""The import benchmark keeps working (at a size that takes a few seconds)."""

from __future__ import annotations

from bench import import_contacts


def test_the_import_benchmark_imports_stages_and_launches_on_both_stores() -> None:
    results = import_contacts.run(300)

    assert [(r.store, r.rows) for r in results] == [("sqlite", 300), ("postgres", 300)]
    assert "postgres" in import_contacts.report(results)
