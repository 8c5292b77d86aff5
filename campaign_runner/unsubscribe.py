"""Signed unsubscribe tokens, and the links that carry them.

A token names one `email_queue` row and nothing else: it is the row id, signed
with `UNSUBSCRIBE_SECRET` by itsdangerous (HMAC-SHA256 with a key derived
from the secret and a salt, compared in constant time). No address is in it, so no recipient
address ever appears in a URL of ours, and a token cannot be forged or altered
without the secret. It does not expire: an unsubscribe link must keep working
for as long as the mail sits in someone's inbox.

Where the links point:
- `UNSUBSCRIBE_BASE_URL` (our own endpoint, served on `HTTP_LISTEN`):
  `{base}/u/{token}`, which takes RFC 8058 one-click POSTs;
- `UNSUBSCRIBE_URL` (a page of the operator's own): `{token}` (and, for
  existing setups, `{email}`, which now also receives the token rather than
  the address) and `{email_id}` are filled in;
- neither: no page; the message offers a `mailto:` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer

# Changing the salt invalidates every link already sent: never change it.
SALT = "campaign-runner/unsubscribe"
# A row id of up to 64 characters gives a token under 130; anything longer is not ours.
MAX_TOKEN_CHARS = 200


class Tokens:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def make(self, email_id: str) -> str:
        return str(self._serializer.dumps(email_id))

    def row(self, token: str) -> str | None:
        """The row id a token names, or None for anything not signed by our secret."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            value = self._serializer.loads(token)
        except BadData:  # a bad signature, bad base64, bad JSON: all just "not ours"
            return None
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Links:
    """Builds the unsubscribe page URL of a row ("" when there is no page)."""

    base_url: str = ""  # UNSUBSCRIBE_BASE_URL, without a trailing slash
    page_template: str = ""  # UNSUBSCRIBE_URL
    tokens: Tokens | None = None

    @property
    def one_click(self) -> bool:
        """Our own endpoint: it takes RFC 8058 POSTs."""
        return bool(self.base_url)

    def page(self, email_id: str) -> str:
        if self.base_url:
            return f"{self.base_url}/u/{self._token(email_id)}"
        if not self.page_template:
            return ""
        url = self.page_template.replace("{email_id}", quote(email_id, safe=""))
        for placeholder in ("{token}", "{email}"):
            if placeholder in url:
                url = url.replace(placeholder, self._token(email_id))
        return url

    def _token(self, email_id: str) -> str:
        if self.tokens is None:  # the config refuses this; a bug if it gets here
            raise RuntimeError("an unsubscribe token is needed but UNSUBSCRIBE_SECRET is empty")
        return self.tokens.make(email_id)


def links_for(base_url: str, page_template: str, secret: str) -> Links:
    return Links(
        base_url=base_url.rstrip("/"),
        page_template=page_template,
        tokens=Tokens(secret) if secret else None,
    )
