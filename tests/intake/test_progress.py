"""The import's progress bar: drawn on a terminal, never into a pipe or a log."""

from __future__ import annotations

import io

from campaign_runner.intake import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_fill_and_then_cleared() -> None:
    screen = Terminal()
    draw = progress.bar("reading c.csv", screen)

    assert draw is not None
    draw(50, 100)
    draw(100, 100)

    text = screen.getvalue()
    assert "reading c.csv [" + "#" * 15 + "." * 15 + "]  50%" in text
    assert text.endswith("\r")  # the finished bar is wiped for the summary line


def test_a_pipe_gets_no_bar() -> None:
    assert progress.bar("reading c.csv", io.StringIO()) is None
