"""What a lead's next step says: its variant's subject and body templates rendered
in the sandbox with the lead's fields, or, for a step with `use_ai_generation`, the
generator's text written from the step's `ai_prompt_context` and the earlier steps.
A step without a subject of its own answers in the thread: `Re: ` and the first
step's subject. Anything wrong with the step or the lead becomes the lead's error."""

from __future__ import annotations

import re

from ..errors import RowError
from ..models import Campaign, Content, Email
from ..ports import Generator
from ..recipients import checked_recipient
from ..render import personalize
from .model import Draft, DueLead, Earlier, Step

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|fwd?)\s*:\s*", re.IGNORECASE)


def lead_email(lead: DueLead, ai_prompt: str | None = None) -> Email:
    """The lead as the row it will become, for the template sandbox and the generator."""
    campaign = Campaign(
        id=lead.campaign_id,
        name="",
        status="sending",
        subject=None,
        body_template=None,
        ai_prompt=ai_prompt,
        from_name=None,
        reply_to=None,
    )
    return Email(
        id=lead.lead_id,
        campaign_id=lead.campaign_id,
        to_email=lead.to_email,
        to_name=lead.to_name,
        from_email=lead.from_email,
        subject=None,
        body=None,
        metadata=lead.metadata,
        attempts=0,
        scheduled_for=None,
        campaign=campaign,
    )


def thread_subject(earlier: tuple[Earlier, ...]) -> str | None:
    """`Re: ` and the first step's subject (without a reply prefix of its own)."""
    first = next((e.subject for e in earlier if (e.subject or "").strip()), None)
    if first is None:
        return None
    return "Re: " + _REPLY_PREFIX.sub("", first.strip())


def ai_context(lead: DueLead) -> str:
    """The instructions of an AI step: its context, then what the lead was already sent."""
    parts = [(lead.step.ai_prompt_context if lead.step else None) or ""]
    if lead.earlier:
        parts.append(
            f"This is follow-up number {lead.step_number - 1} in one email thread. "
            "The earlier emails, oldest first (do not repeat them):"
        )
        for e in lead.earlier:
            parts.append(f"--- step {e.step_number}: {e.subject or ''}\n{e.body or ''}")
    return "\n\n".join(p for p in parts if p.strip())


def draft(lead: DueLead, generator: Generator) -> Draft:
    """The next step of `lead`, or the error that pauses it. Errors of the system
    (TransientError, SystemicError) propagate: the lead is tried again next time."""
    try:
        content = _content(lead, generator)
    except RowError as exc:
        return Draft(lead.lead_id, lead.step_number, lead.variant, error=str(exc))
    return Draft(
        lead.lead_id,
        lead.step_number,
        lead.variant,
        subject=content.subject,
        body=content.body,
        model=content.model,
    )


def preview(
    email: Email, steps: dict[int, Step], step_number: int, variant: str, generator: Generator
) -> Content:
    """Step `step_number` of a sequence as `email`'s recipient would get it in
    `variant`, the earlier steps written first as the dispatcher would have (for the
    thread's subject and an AI step's context). For `test-send`; a step that cannot
    be written raises RowError with the reason the dispatcher would give the lead."""
    earlier: list[Earlier] = []
    for number in range(1, step_number + 1):
        lead = DueLead(
            lead_id=email.id,
            campaign_id=email.campaign_id,
            to_email=email.to_email,
            to_name=email.to_name,
            metadata=email.metadata,
            from_email=email.from_email,
            step_number=number,
            variant=variant,
            variant_split=None,
            step=steps.get(number),
            earlier=tuple(earlier),
        )
        content = _content(lead, generator)
        if number == step_number:
            return content
        earlier.append(Earlier(number, content.subject, content.body))
    raise RowError(f"there is no step {step_number}: steps are numbered 1, 2, 3 ...")


def _content(lead: DueLead, generator: Generator) -> Content:
    step = lead.step
    if step is None:
        raise RowError(
            f"the sequence has no step {lead.step_number} "
            "(steps are numbered 1, 2, 3 ... without gaps)"
        )
    if lead.variant_split is not None and not 0 <= lead.variant_split <= 100:
        raise RowError(f"step 1's variant_split is {lead.variant_split}: it must be 0-100")
    checked_recipient(lead_email(lead))
    use_b = lead.variant == "B" and (step.variant_b_body or "").strip()
    subject_source = step.variant_b_subject if use_b else step.variant_a_subject
    body_source = step.variant_b_body if use_b else step.variant_a_body
    what = f"step {lead.step_number} variant {'B' if use_b else 'A'}"
    subject = None
    if (subject_source or "").strip():
        subject = personalize(subject_source or "", lead_email(lead), f"{what} subject")
    elif lead.step_number > 1:
        subject = thread_subject(lead.earlier)
    if step.use_ai_generation:
        generated = generator.generate(lead_email(lead, ai_context(lead)))
        return Content(
            subject=subject or generated.subject,
            body=generated.body,
            model=generated.model,
            usage=generated.usage,
        )
    if not (body_source or "").strip():
        raise RowError(f"{what} has no body (and the step does not use AI generation)")
    if not subject:
        raise RowError(f"{what} has no subject")
    body = personalize(body_source or "", lead_email(lead), f"{what} body")
    return Content(subject=subject, body=body, model="template")
