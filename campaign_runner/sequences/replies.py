"""The reply poll: reads the mailboxes of REPLY_IMAP_URL with imapclient and stops
the leads that answered (a timed duty, in and out of the window, every
REPLY_POLL_SECONDS).

Incremental by UID: the store keeps each mailbox's UIDVALIDITY and the last UID read,
written in the same transaction as what was read up to it, so a crash re-reads at
most one chunk and the store keeps each message once (by Message-ID). A changed
UIDVALIDITY voids the old UIDs (RFC 3501 2.3.1.1): the poll reads the last
RESYNC_DAYS again (SEARCH SINCE), and the Message-IDs it already has count nothing
twice. Nothing is marked read: the folder is selected read-only and bodies are
fetched with BODY.PEEK. A mailbox that refuses the login or cannot be reached is
logged and the others are read all the same.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

import structlog
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from .classify import classify, needs_body
from .model import Inbound, MailboxState, SequenceStore

log = structlog.get_logger("campaign_runner")

CHUNK = 200  # UIDs fetched and recorded per transaction
RESYNC_DAYS = 30  # read again after a UIDVALIDITY change, or the first time
TIMEOUT_SECONDS = 30
HEADER = b"BODY[HEADER]"  # the fetch answers BODY.PEEK[HEADER] under this key
WHOLE = b"BODY[]"


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str

    @property
    def name(self) -> str:
        """What the store keys its read position on, and logs show: no password."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @property
    def address(self) -> str:
        """The sending address whose leads' replies arrive here: the login, if it is one."""
        return self.user.lower() if "@" in self.user else ""


def mailbox(url: str) -> Mailbox:
    """imaps://user:password@host[:port]/FOLDER (imap:// for plain text, tests only)."""
    parts = urlsplit(url)
    tls = parts.scheme == "imaps"
    return Mailbox(
        host=parts.hostname or "",
        port=parts.port or (993 if tls else 143),
        tls=tls,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


class ReplyPoller:
    def __init__(
        self, store: SequenceStore, urls: tuple[str, ...], clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.mailboxes = [mailbox(url) for url in urls]
        self.clock = clock

    def run(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for box in self.mailboxes:
            try:
                counts = self.poll(box)
            except LoginError as exc:
                log.error("reply_mailbox_login_refused", mailbox=box.name, error=str(exc))
                continue
            except (TimeoutError, IMAPClientError, OSError, ssl.SSLError) as exc:
                log.warning("reply_mailbox_unreachable", mailbox=box.name, error=str(exc))
                continue
            for kind, n in counts.items():
                totals[kind] = totals.get(kind, 0) + n
        if totals:
            log.info("replies_read", **totals)
        return totals

    def poll(self, box: Mailbox) -> dict[str, int]:
        totals: dict[str, int] = {}
        with IMAPClient(box.host, port=box.port, ssl=box.tls, timeout=TIMEOUT_SECONDS) as client:
            client.normalise_times = False  # INTERNALDATE with its offset, not local naive
            client.login(box.user, box.password)
            selected = client.select_folder(box.folder, readonly=True)
            uidvalidity = int(selected[b"UIDVALIDITY"])
            known = self.store.reply_mailbox(box.name)
            if known is None or known.uidvalidity != uidvalidity:
                since = (self.clock() - timedelta(days=RESYNC_DAYS)).date()
                uids = sorted(client.search(["SINCE", since]))
                last = 0
            else:
                last = known.last_uid
                # "UID n:*" includes the last message even when its UID is below n.
                uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
            if not uids and known is None:
                self.store.record_inbound(
                    box.name, box.address, MailboxState(uidvalidity, last), [], self.clock()
                )
            for start in range(0, len(uids), CHUNK):
                chunk = uids[start : start + CHUNK]
                messages = self._read(client, chunk)
                state = MailboxState(uidvalidity, max(chunk))
                counts = self.store.record_inbound(
                    box.name, box.address, state, messages, self.clock()
                )
                for kind, n in counts.items():
                    totals[kind] = totals.get(kind, 0) + n
        return totals

    def _read(self, client: IMAPClient, uids: list[int]) -> list[Inbound]:
        heads = client.fetch(uids, ["BODY.PEEK[HEADER]", "INTERNALDATE"])
        reports = [uid for uid in uids if uid in heads and needs_body(heads[uid][HEADER])]
        bodies = client.fetch(reports, ["BODY.PEEK[]"]) if reports else {}
        messages = []
        for uid in uids:
            if uid not in heads:  # expunged between the search and the fetch
                continue
            raw = bodies[uid][WHOLE] if uid in bodies else heads[uid][HEADER]
            received = heads[uid].get(b"INTERNALDATE")
            at = received if isinstance(received, datetime) and received.tzinfo else None
            messages.append(classify(uid, raw, at))
        return messages
