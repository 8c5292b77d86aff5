"""Fixtures shared across the suite live in tests/fixtures/, one module per area."""

pytest_plugins = ["tests.fixtures.embedded", "tests.fixtures.postgres", "tests.fixtures.imap"]
