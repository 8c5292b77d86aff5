"""Turning content into a message, with contact data treated as data.

Two kinds of template run here, both in Jinja2's sandbox:
- the campaign's own `subject` / `body_template`, personalised with the
  contact's fields (`personalize`); an undefined field is an error, never
  an empty string;
- the package's layout (`templates/email.*.j2`), which wraps finished
  content in the HTML and text parts and the unsubscribe footer. The HTML
  part is autoescaped; content is passed in as a variable, so nothing a
  contact or a model wrote is ever evaluated as a template.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from . import addresses
from .errors import CampaignGone, RowError
from .models import Content, Email, Message
from .recipients import checked_recipient
from .unsubscribe import Links

# Far above any real cold email, far below what providers refuse (SparkPost: 20 MB).
MAX_BODY_CHARS = 100_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_personal = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_layout_html = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)
_layout_text = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def clean_header(value: str | None) -> str:
    """CR, LF and other control characters become one space: no header injection."""
    return _CONTROL.sub(" ", value or "").strip()


def contact_fields(email: Email) -> dict[str, Any]:
    """The variables a campaign template sees: the contact's metadata plus the row's names.

    Empty values are left out on purpose, so `{{ first_name }}` on a contact
    without one is an error instead of "Hi ,".
    """
    if email.metadata is None:
        metadata: dict[str, Any] = {}
    elif isinstance(email.metadata, dict):
        metadata = email.metadata
    else:
        raise RowError(
            f"metadata must be a JSON object of contact fields, got {type(email.metadata).__name__}"
        )
    fields: dict[str, Any] = {
        "to_name": email.to_name,
        "name": email.to_name,
        "to_email": email.to_email,
        "email": email.to_email,
    }
    fields.update(
        {k: v for k, v in metadata.items() if isinstance(k, str) and _IDENTIFIER.match(k)}
    )
    return {k: v for k, v in fields.items() if v is not None and str(v).strip() != ""}


@lru_cache(maxsize=256)
def _campaign_template(source: str) -> jinja2.Template:
    """Compiled once per text, not once per contact: compiling costs ten times what
    rendering does. Jinja2 templates are safe to render from many threads at once."""
    return _personal.from_string(source)


def personalize(source: str, email: Email, what: str) -> str:
    """One of the campaign's templates for this contact; errors name `what` and why."""
    try:
        return _campaign_template(source).render(contact_fields(email))
    except jinja2.UndefinedError as exc:
        raise RowError(f"{what}: {exc.message} for this contact") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RowError(
            f"{what}: template syntax error on line {exc.lineno}: {exc.message}"
        ) from None
    except SecurityError as exc:
        raise RowError(f"{what}: refused by the template sandbox: {exc}") from None
    except RowError:
        raise
    except Exception as exc:  # a template can raise anything (division by zero, bad filter args)
        raise RowError(f"{what}: template raised {type(exc).__name__}: {exc}") from None


def thread_headers(email: Email) -> dict[str, str]:
    """A sequence step's own Message-ID, and In-Reply-To and References naming the
    earlier steps (RFC 5322 3.6.4), so that a follow-up lands in the lead's thread."""
    headers = {}
    if email.message_id_header:
        headers["Message-ID"] = clean_header(email.message_id_header)
    earlier = clean_header(email.references_header).split()
    if earlier:
        headers["In-Reply-To"] = earlier[-1]
        headers["References"] = " ".join(earlier)
    return headers


class Renderer:
    """Builds the `Message` for a row from its finished content.

    Unsubscribe: `List-Unsubscribe` always offers a `mailto:` to the campaign's
    reply address (the bare address, whatever the campaign's `reply_to` holds) and,
    when there is one, the unsubscribe page first; `List-Unsubscribe-Post` (RFC 8058
    one-click) only for an https page that takes the POST. The footer links to the
    page, or to the mailto. `data-msys-unsubscribe` asks SparkPost to suppress
    whoever clicks, which only an http(s) link it can rewrite can do.
    """

    def __init__(
        self,
        links: Links | None = None,
        sender_address: str = "",
        msys_unsubscribe: bool = False,
        reply_address: str = "",
    ) -> None:
        self.links = links or Links()
        self.reply_address = reply_address  # replies@d: a sequence lead's is replies+<token>@d
        self.sender_address = sender_address
        self.msys_unsubscribe = msys_unsubscribe
        folder = files("campaign_runner") / "templates"
        self._html = _layout_html.from_string((folder / "email.html.j2").read_text("utf-8"))
        self._text = _layout_text.from_string((folder / "email.txt.j2").read_text("utf-8"))

    def render(self, email: Email, content: Content) -> Message:
        campaign = email.campaign
        if campaign is None:
            raise CampaignGone(f"campaign {email.campaign_id} no longer exists")
        from_email = clean_header(email.from_email)
        if not from_email:
            raise RowError("from_email is empty: the launch step must assign a sending address")
        subject = clean_header(content.subject)
        if not subject:
            raise RowError("subject is empty: set the row's subject or the campaign's subject")
        body = content.body.replace("\r\n", "\n").strip()
        if not body:
            raise RowError("body is empty after generation")
        if len(body) > MAX_BODY_CHARS:
            raise RowError(
                f"body is {len(body):,} characters; the limit is {MAX_BODY_CHARS:,} "
                "(a cold email that long is a data error)"
            )
        reply_to = clean_header(campaign.reply_to) or None
        page = clean_header(self.links.page(email.id))
        mailto = _mailto(reply_to, from_email)
        link = page or mailto
        context = {
            "subject": subject,
            "body": body,
            "paragraphs": [p.split("\n") for p in re.split(r"\n\s*\n", body)],
            "unsubscribe_url": link,
            "sender_address": self.sender_address,
            "msys_unsubscribe": self.msys_unsubscribe and link.startswith(("https://", "http://")),
        }
        headers = {
            "List-Unsubscribe": ", ".join(f"<{target}>" for target in (page, mailto) if target),
            "List-Id": _list_id(email.campaign_id, from_email),
            "X-Campaign-Id": clean_header(email.campaign_id),
            "X-Email-Id": clean_header(email.id),
        }
        if page.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        headers.update(thread_headers(email))
        return Message(
            email_id=email.id,
            campaign_id=email.campaign_id,
            from_email=from_email,
            from_name=clean_header(campaign.from_name),
            to_email=checked_recipient(email),
            to_name=clean_header(email.to_name),
            reply_to=self._lead_reply_to(email) or reply_to,
            subject=subject,
            text=self._text.render(context).strip() + "\n",
            html=self._html.render(context),
            headers=headers,
        )

    def _lead_reply_to(self, email: Email) -> str | None:
        """With REPLY_ADDRESS, a sequence lead's own reply address, its token after a +."""
        if not (self.reply_address and email.reply_token):
            return None
        local, _, domain = self.reply_address.rpartition("@")
        return clean_header(f"{local}+{email.reply_token}@{domain}")


def _mailto(reply_to: str | None, from_email: str) -> str:
    """A mailto: to the first reply address, or the sender; the address alone, as a URI."""
    mailbox = (reply_to and addresses.first_mailbox(reply_to)) or from_email
    try:
        return addresses.mailto(mailbox)
    except ValueError as exc:
        raise RowError(f"no unsubscribe address: {exc}") from None


def _list_id(campaign_id: str, from_email: str) -> str:
    """RFC 2919: one list per campaign, named under the sending domain. No phrase: a
    campaign's name is for the people who run it, not for its recipients."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", campaign_id).strip("-") or "campaign"
    try:
        domain = addresses.ascii_domain(from_email.rpartition("@")[2])
    except ValueError as exc:
        raise RowError(f"from_email {from_email!r}: {exc}") from None
    return f"<{label[:63]}.{domain}>"
