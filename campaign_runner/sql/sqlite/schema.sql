-- The embedded store's schema: the same tables and columns as the Postgres
-- migrations, so any SQLite client can stage work. Timestamps are UTC ISO 8601
-- text; every comparison goes through julianday(), which reads any offset.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS campaigns (
    id            TEXT PRIMARY KEY DEFAULT (lower(
                      hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                      substr(hex(randomblob(2)), 2) || '-' ||
                      substr('89ab', 1 + (abs(random()) % 4), 1) ||
                      substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'draft',
    subject       TEXT,
    body_template TEXT,
    ai_prompt     TEXT,
    from_name     TEXT,
    reply_to      TEXT,
    sent_count    INTEGER NOT NULL DEFAULT 0,
    failed_count  INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT,
    completed_at  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE IF NOT EXISTS email_queue (
    id                  TEXT PRIMARY KEY DEFAULT (lower(
                            hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                            substr(hex(randomblob(2)), 2) || '-' ||
                            substr('89ab', 1 + (abs(random()) % 4), 1) ||
                            substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    campaign_id         TEXT NOT NULL,
    to_email            TEXT,
    to_name             TEXT,
    from_email          TEXT,
    domain_index        INTEGER,
    subject             TEXT,
    body                TEXT,
    status              TEXT NOT NULL DEFAULT 'staged',
    scheduled_for       TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    attempts            INTEGER NOT NULL DEFAULT 0,
    locked_by           TEXT,
    locked_at           TEXT,
    send_started_at     TEXT,
    sent_at             TEXT,
    provider_message_id TEXT,
    error               TEXT,
    failure_kind        TEXT CHECK (failure_kind IN ('rejected', 'ambiguous', 'invalid',
                                                     'suppressed', 'content', 'campaign_gone',
                                                     'transient', 'system', 'interrupted',
                                                     'not_accepted', 'stopped')),
    generated_at        TEXT,
    generation_model    TEXT,
    prompt_tokens       INTEGER,
    completion_tokens   INTEGER,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

-- Serves the claim in its order (julianday reads any offset): only queued rows
-- are indexed, so sent history costs nothing. It replaced `email_queue_due`.
CREATE INDEX IF NOT EXISTS email_queue_due_order
    ON email_queue (julianday(scheduled_for), id) WHERE status = 'queued';
DROP INDEX IF EXISTS email_queue_due;
CREATE INDEX IF NOT EXISTS email_queue_processing ON email_queue (locked_at) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS email_queue_campaign_status ON email_queue (campaign_id, status);

CREATE TABLE IF NOT EXISTS suppressions (
    email      TEXT PRIMARY KEY,  -- lower-cased
    reason     TEXT,
    source     TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

-- One row per sending domain: when it last sent, and how many it sent today;
-- previous_claimed_at is the claim before the last, which a row that ends before
-- sending restores (see `give_back_pacing`).
CREATE TABLE IF NOT EXISTS domain_pacing (
    domain              TEXT PRIMARY KEY,
    last_claimed_at     TEXT NOT NULL,
    previous_claimed_at TEXT,
    day_start           TEXT NOT NULL,
    day_count           INTEGER NOT NULL DEFAULT 0
);
