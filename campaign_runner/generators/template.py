"""Content from the campaign's own `subject` and `body_template`, no LLM."""

from __future__ import annotations

from ..errors import CampaignGone, RowError, SystemicError
from ..models import Content, Email
from ..render import personalize


class TemplateGenerator:
    def __init__(self, explicit: bool = True) -> None:
        # When nobody chose this generator, a campaign written for the LLM is
        # a configuration problem (no GROQ_API_KEY), not a fault of its rows.
        self.explicit = explicit

    def generate(self, email: Email) -> Content:
        campaign = email.campaign
        if campaign is None:
            raise CampaignGone(f"campaign {email.campaign_id} no longer exists")
        if not (campaign.body_template or "").strip():
            if campaign.ai_prompt and not self.explicit:
                raise SystemicError(
                    f"campaign {campaign.id} needs AI content but GROQ_API_KEY is not set "
                    "(or set GENERATOR=template and give the campaign a body_template)"
                )
            raise RowError(
                "the row has no body and its campaign has no body_template to write one from"
            )
        subject = email.subject or personalize(campaign.subject or "", email, "campaign subject")
        body = personalize(campaign.body_template or "", email, "campaign body_template")
        return Content(subject=subject, body=body, model="template")
