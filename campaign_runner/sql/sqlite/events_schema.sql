-- The embedded store's twin of 0006_events.sql: its new tables and indexes, run
-- at every open (`executescript`), like schema.sql. The columns it adds to
-- email_queue and campaigns are in events_upgrades.sql, since SQLite has no
-- "add column if not exists". Timestamps are UTC ISO 8601 text, compared through
-- julianday().

CREATE TABLE IF NOT EXISTS email_events (
    event_id        TEXT PRIMARY KEY,
    type            TEXT NOT NULL DEFAULT '',
    occurred_at     TEXT,
    email_id        TEXT,  -- the row it landed on; NULL: no row of ours
    campaign_id     TEXT,
    transmission_id TEXT,
    message_id      TEXT,
    recipient       TEXT,
    bounce_class    INTEGER,
    reason          TEXT,
    problem         TEXT,
    raw             TEXT NOT NULL DEFAULT 'null',
    received_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS email_events_email ON email_events (email_id)
    WHERE email_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS email_events_message ON email_events (message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS email_events_unmatched ON email_events (received_at)
    WHERE email_id IS NULL;
CREATE INDEX IF NOT EXISTS email_queue_provider_message_id ON email_queue (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS cr_events_position (
    stream           TEXT PRIMARY KEY,
    read_to          TEXT,
    read_since       TEXT,
    window_from      TEXT,
    window_to        TEXT,
    next_path        TEXT,
    lease_holder     TEXT,
    lease_until      TEXT,
    polled_at        TEXT,
    events_stored    INTEGER NOT NULL DEFAULT 0,
    events_unmatched INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
