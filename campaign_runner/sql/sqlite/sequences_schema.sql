-- The sequence tables of the embedded store (twins of 0010_sequences.sql; the
-- comments there say what each column means). Run after the upgrades, since some
-- indexes below are on columns they add.

CREATE TABLE IF NOT EXISTS campaign_sequences (
    id                  TEXT PRIMARY KEY DEFAULT (lower(
                            hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                            substr(hex(randomblob(2)), 2) || '-' ||
                            substr('89ab', 1 + (abs(random()) % 4), 1) ||
                            substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    campaign_id         TEXT NOT NULL,
    step_number         INTEGER NOT NULL,
    delay_days          INTEGER NOT NULL DEFAULT 0,
    delay_hours         INTEGER NOT NULL DEFAULT 0,
    variant_a_subject   TEXT,
    variant_a_body      TEXT,
    variant_b_subject   TEXT,
    variant_b_body      TEXT,
    variant_split       INTEGER NOT NULL DEFAULT 50,
    use_ai_generation   INTEGER NOT NULL DEFAULT 0,
    ai_prompt_context   TEXT,
    variant_a_sent      INTEGER NOT NULL DEFAULT 0,
    variant_b_sent      INTEGER NOT NULL DEFAULT 0,
    variant_a_delivered INTEGER NOT NULL DEFAULT 0,
    variant_b_delivered INTEGER NOT NULL DEFAULT 0,
    variant_a_opened    INTEGER NOT NULL DEFAULT 0,
    variant_b_opened    INTEGER NOT NULL DEFAULT 0,
    variant_a_clicked   INTEGER NOT NULL DEFAULT 0,
    variant_b_clicked   INTEGER NOT NULL DEFAULT 0,
    variant_a_replied   INTEGER NOT NULL DEFAULT 0,
    variant_b_replied   INTEGER NOT NULL DEFAULT 0,
    variant_a_bounced   INTEGER NOT NULL DEFAULT 0,
    variant_b_bounced   INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS campaign_sequences_step
    ON campaign_sequences (campaign_id, step_number);

CREATE TABLE IF NOT EXISTS campaign_leads (
    id               TEXT PRIMARY KEY DEFAULT (lower(
                         hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                         substr(hex(randomblob(2)), 2) || '-' ||
                         substr('89ab', 1 + (abs(random()) % 4), 1) ||
                         substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    campaign_id      TEXT NOT NULL,
    contact_id       TEXT,
    to_email         TEXT,
    to_name          TEXT,
    metadata         TEXT NOT NULL DEFAULT '{}',
    from_email       TEXT,
    domain_index     INTEGER,
    current_step     INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'active',
    assigned_variant TEXT,
    last_email_at    TEXT,
    next_email_at    TEXT,
    replied_at       TEXT,
    stopped_step     INTEGER,
    error            TEXT,
    reply_token      TEXT NOT NULL DEFAULT (lower(hex(randomblob(16)))),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS campaign_leads_due
    ON campaign_leads (campaign_id, julianday(coalesce(next_email_at, created_at)), id)
    WHERE status = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS campaign_leads_reply_token ON campaign_leads (reply_token);
CREATE INDEX IF NOT EXISTS campaign_leads_recipient ON campaign_leads (lower(trim(to_email)));

CREATE UNIQUE INDEX IF NOT EXISTS email_queue_lead_step
    ON email_queue (lead_id, step_number) WHERE lead_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS email_queue_message_id_header
    ON email_queue (message_id_header) WHERE message_id_header IS NOT NULL;
-- fit_rows reads a campaign's queued sequence rows (send_before: see 0011).
CREATE INDEX IF NOT EXISTS email_queue_sequence_queued
    ON email_queue (campaign_id, send_before) WHERE status = 'queued' AND lead_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS reply_mailboxes (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER,
    last_uid    INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE IF NOT EXISTS inbound_messages (
    id          TEXT PRIMARY KEY DEFAULT (lower(
                    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                    substr(hex(randomblob(2)), 2) || '-' ||
                    substr('89ab', 1 + (abs(random()) % 4), 1) ||
                    substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    mailbox     TEXT,
    uid         INTEGER,
    message_id  TEXT,
    kind        TEXT,
    lead_id     TEXT,
    detail      TEXT,
    received_at TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS inbound_messages_once ON inbound_messages (mailbox, message_id);
