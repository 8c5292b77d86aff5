"""campaign-runner: a polling worker that sends outbound campaign email at most once."""

__version__ = "0.1.0"
