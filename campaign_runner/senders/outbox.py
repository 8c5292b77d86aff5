"""Delivery into a folder: one RFC 5322 `.eml` file per email.

The file is written under a temporary name in the same folder and renamed
into place, so a reader never sees half a message; the name is the row id,
so a row can never produce two files.
"""

from __future__ import annotations

import os
import tempfile
from email.utils import make_msgid
from pathlib import Path

from ..addresses import ascii_domain
from ..errors import RowError, SystemicError
from ..models import Message
from . import mime


class OutboxSender:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, email_id: str) -> Path:
        return self.folder / f"{email_id}.eml"

    def send(self, message: Message) -> str:
        target = self.path_for(message.email_id)
        try:
            domain = ascii_domain(message.from_email.rpartition("@")[2] or "localhost")
            message_id = message.headers.get("Message-ID") or make_msgid(domain=domain)
            data = mime.build(message, message_id)
        except ValueError as exc:
            raise RowError(f"cannot build the message: {exc}") from None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise RowError(f"{target} already exists: this row was delivered before")
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        except OSError as exc:
            raise SystemicError(
                f"cannot write to OUTBOX_DIR {self.folder}: {exc.strerror}"
            ) from None
        return message_id

    def close(self) -> None:
        pass
