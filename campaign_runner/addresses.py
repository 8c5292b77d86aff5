"""Addresses as the wire needs them: IDNA 2008 domains, ASCII local parts, bare mailboxes.

Python's built-in "idna" codec is IDNA 2003, which maps `straße.example` to
`strasse.example`, a different domain. The `idna` package implements IDNA 2008
with the UTS 46 mapping, the same conversion email-validator checks addresses
with, so an address means one domain everywhere it is written.
"""

from __future__ import annotations

from email.utils import getaddresses
from urllib.parse import quote

import idna

# Characters of an RFC 5322 local part that RFC 6068 lets stand unencoded in a mailto: URI.
_MAILTO_SAFE = "!$'*+-._~"


def ascii_domain(domain: str) -> str:
    """The domain's A-label form (`xn--strae-oqa.example`); ValueError if it has none."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"domain {domain!r} is not a valid IDNA 2008 name: {exc}") from None


def ascii_address(addr_spec: str) -> str:
    """`local@domain` with the domain in A-labels. A non-ASCII local part needs SMTPUTF8,
    which neither sender uses: ValueError, so both refuse it alike."""
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{addr_spec!r} is not an address")
    if not local.isascii():
        raise ValueError(f"{addr_spec!r} has a non-ASCII local part (needs SMTPUTF8)")
    return f"{local}@{ascii_domain(domain)}"


def first_mailbox(value: str) -> str | None:
    """The first bare address in a header-style list ("Name <a@b>, c@d" gives "a@b")."""
    for _, addr in getaddresses([value]):
        if "@" in addr:
            return addr
    return None


def mailto(addr_spec: str, subject: str = "unsubscribe") -> str:
    """A mailto: URI (RFC 6068) for one bare address: nothing but the address inside."""
    local, _, domain = ascii_address(addr_spec).rpartition("@")
    return f"mailto:{quote(local, safe=_MAILTO_SAFE)}@{domain}?subject={quote(subject)}"
