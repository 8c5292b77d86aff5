-- The put-work-in tables of the embedded store (twins of 0008_put_work_in.sql). Run
-- after the upgrades, since campaigns_key indexes a column they add.

-- One row per sending address; launch goes round-robin over the active ones.
CREATE TABLE IF NOT EXISTS sending_domains (
    id           TEXT PRIMARY KEY DEFAULT (lower(
                     hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                     substr(hex(randomblob(2)), 2) || '-' ||
                     substr('89ab', 1 + (abs(random()) % 4), 1) ||
                     substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    domain_index INTEGER,
    from_email   TEXT,
    from_name    TEXT,
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS sending_domains_domain_index ON sending_domains (domain_index);
CREATE UNIQUE INDEX IF NOT EXISTS sending_domains_from_email ON sending_domains (lower(from_email));

-- Contacts imported for one campaign, until `stage` turns them into rows.
CREATE TABLE IF NOT EXISTS imported_contacts (
    id          TEXT PRIMARY KEY DEFAULT (lower(
                    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                    substr(hex(randomblob(2)), 2) || '-' ||
                    substr('89ab', 1 + (abs(random()) % 4), 1) ||
                    substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    campaign_id TEXT NOT NULL,
    email       TEXT NOT NULL,
    to_name     TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS imported_contacts_campaign_email
    ON imported_contacts (campaign_id, lower(email));

CREATE UNIQUE INDEX IF NOT EXISTS campaigns_key ON campaigns (key);
CREATE INDEX IF NOT EXISTS email_queue_campaign_recipient
    ON email_queue (campaign_id, lower(trim(to_email)));
