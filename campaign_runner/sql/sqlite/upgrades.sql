-- Columns added to the embedded store after files with the first schema were in
-- use, twins of 0003_operations.sql and 0005_failure_kinds.sql. SQLite has no "add column if not exists": the
-- store runs each statement whose column its file lacks (see SqliteStore._upgrade), then its backfill
-- of the same name in backfills.sql, if there is one.

-- name: campaigns_paused_reason
ALTER TABLE campaigns ADD COLUMN paused_reason TEXT;

-- name: campaigns_guard_reset_at
ALTER TABLE campaigns ADD COLUMN guard_reset_at TEXT;

-- name: email_queue_failure_kind
ALTER TABLE email_queue ADD COLUMN failure_kind TEXT
    CHECK (failure_kind IN ('rejected', 'ambiguous', 'invalid', 'suppressed', 'content',
                            'campaign_gone', 'transient', 'system', 'interrupted',
                            'not_accepted', 'stopped'));

-- name: domain_pacing_previous_claimed_at
ALTER TABLE domain_pacing ADD COLUMN previous_claimed_at TEXT;
