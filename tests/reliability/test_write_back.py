"""Writing an outcome back is tried more than once: a connection that drops under the
write of a sent email (a failover, a restarted pooler) costs a reconnect, not an outage."""

from __future__ import annotations

from tests.fakes.tcp_proxy import UP

from .conftest import Rig


def test_a_connection_dropped_under_the_write_of_a_sent_email_is_ridden_out(rig: Rig) -> None:
    (row,) = rig.stage([False])
    # SparkPost has accepted the email; its write-back is on the way to Postgres when the
    # connection drops and takes it along. The server stays up: a new connection works.
    write_back = rig.postgres_proxy.hold(rb"cr_finish", UP)
    with rig.start("--once") as worker:
        assert write_back.reached.wait(60), worker.log.tail()
        assert len(rig.sparkpost.posts) == 1
        rig.postgres_proxy.cut()
        assert worker.exited.wait(60), worker.log.tail()

    assert worker.code == 0, worker.log.tail()
    # Nothing for an operator to act on: no outcome kept for later, no halted cycle.
    errors = [event for event in worker.log.events if event.get("level") == "error"]
    assert not errors, errors
    (post,) = rig.sparkpost.posts
    stored = rig.rows()[row]
    assert (stored["status"], stored["provider_message_id"]) == (
        "sent",
        post.answer["results"]["id"],
    )
