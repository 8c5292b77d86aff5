-- Columns 0006_events.sql adds, for the embedded store, in upgrades.sql's form: one
-- ADD COLUMN per name, run by the store when its file lacks that column
-- (SqliteStore._upgrade).

-- name: email_queue_delivered_at
ALTER TABLE email_queue ADD COLUMN delivered_at TEXT;

-- name: email_queue_opened_at
ALTER TABLE email_queue ADD COLUMN opened_at TEXT;

-- name: email_queue_clicked_at
ALTER TABLE email_queue ADD COLUMN clicked_at TEXT;

-- name: email_queue_bounced_at
ALTER TABLE email_queue ADD COLUMN bounced_at TEXT;

-- name: email_queue_bounce_class
ALTER TABLE email_queue ADD COLUMN bounce_class INTEGER;

-- name: email_queue_bounce_reason
ALTER TABLE email_queue ADD COLUMN bounce_reason TEXT;

-- name: email_queue_complained_at
ALTER TABLE email_queue ADD COLUMN complained_at TEXT;

-- name: email_queue_unsubscribed_at
ALTER TABLE email_queue ADD COLUMN unsubscribed_at TEXT;

-- name: email_queue_settled_note
ALTER TABLE email_queue ADD COLUMN settled_note TEXT;

-- name: campaigns_delivered_count
ALTER TABLE campaigns ADD COLUMN delivered_count INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_opened_count
ALTER TABLE campaigns ADD COLUMN opened_count INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_clicked_count
ALTER TABLE campaigns ADD COLUMN clicked_count INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_bounced_count
ALTER TABLE campaigns ADD COLUMN bounced_count INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_complained_count
ALTER TABLE campaigns ADD COLUMN complained_count INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_unsubscribed_count
ALTER TABLE campaigns ADD COLUMN unsubscribed_count INTEGER NOT NULL DEFAULT 0;
