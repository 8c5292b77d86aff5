"""`campaign-runner demo`: a sample campaign through the whole pipeline, into the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from .stores.sqlite import SqliteStore

CAMPAIGN: dict[str, Any] = {
    "name": "Demo: autumn outreach",
    "status": "scheduled",
    "subject": "{{ company }} and a quicker month-end close",
    "body_template": (
        "Hi {{ first_name }},\n\n"
        "I saw that {{ company }} is growing its team in {{ city | default('your city') }}. "
        "We help finance teams close the month in days instead of weeks.\n\n"
        "Would a 15-minute call next week be useful?\n\n"
        "Best,\nSam"
    ),
    "from_name": "Sam at Ledgerly",
    "reply_to": "sam@ledgerly.example.com",
}

# The fourth contact's fields are hostile and render literally; the fifth has no
# first_name, so its row fails with a reason instead of sending "Hi ,".
CONTACTS = [
    (
        "ana.ruiz@example.org",
        "Ana Ruiz",
        {"first_name": "Ana", "company": "Ruiz & Co", "city": "Lisbon"},
    ),
    (
        "ben@example.net",
        "Ben Okafor",
        {"first_name": "Ben", "company": "Okafor Labs", "city": "Lagos"},
    ),
    ("chloe@example.com", "Chloé Martin", {"first_name": "Chloé", "company": "Atelier Martin"}),
    (
        "dev@example.org",
        "Dev Patel",
        {"first_name": "{{ 7*7 }}", "company": "Patel <b>Systems</b>"},
    ),
    ("info@example.net", "", {"company": "Nameless Inc"}),
]
SENDING_ADDRESSES = ("sam@send1.ledgerly.example.com", "sam@send2.ledgerly.example.com")
# One id for every demo, so that a second `demo` finds the first one's campaign.
CAMPAIGN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "campaign-runner:demo"))


def seed(store: SqliteStore, now: datetime) -> bool:
    """The sample campaign, scheduled with every row due now, unless an earlier demo
    added it already; True when it was added now."""
    if store.campaign_rows(CAMPAIGN_ID):
        return False
    store.stage(
        {**CAMPAIGN, "id": CAMPAIGN_ID},
        [
            {
                "id": str(uuid.uuid4()),
                "to_email": address,
                "to_name": name,
                "from_email": SENDING_ADDRESSES[i % len(SENDING_ADDRESSES)],
                "domain_index": i % len(SENDING_ADDRESSES),
                "status": "queued",
                "scheduled_for": (now - timedelta(minutes=1)).isoformat(),
                "metadata": fields,
            }
            for i, (address, name, fields) in enumerate(CONTACTS)
        ],
    )
    return True
