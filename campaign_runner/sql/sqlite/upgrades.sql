-- Columns added to the embedded store after files with the first schema were in
-- use, twins of 0003_operations.sql. SQLite has no "add column if not exists": the
-- store runs each statement whose column its file lacks (see SqliteStore._upgrade).

-- name: campaigns_paused_reason
ALTER TABLE campaigns ADD COLUMN paused_reason TEXT;

-- name: campaigns_guard_reset_at
ALTER TABLE campaigns ADD COLUMN guard_reset_at TEXT;
