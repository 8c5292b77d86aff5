-- The put-work-in columns of `campaigns` (twins of 0008_put_work_in.sql), added to a
-- file that lacks them as upgrades.sql's are (see SqliteStore._upgrade). The schedule
-- as the embedded store keeps it: send_days a JSON list of day names ('["mon","tue"]'),
-- send_time_start and send_time_end 'HH:MM' text.

-- name: campaigns_key
ALTER TABLE campaigns ADD COLUMN key TEXT;

-- name: campaigns_stage_requested_at
ALTER TABLE campaigns ADD COLUMN stage_requested_at TEXT;

-- name: campaigns_launch_requested_at
ALTER TABLE campaigns ADD COLUMN launch_requested_at TEXT;

-- name: campaigns_request_error
ALTER TABLE campaigns ADD COLUMN request_error TEXT;

-- name: campaigns_send_days
ALTER TABLE campaigns ADD COLUMN send_days TEXT;

-- name: campaigns_send_time_start
ALTER TABLE campaigns ADD COLUMN send_time_start TEXT;

-- name: campaigns_send_time_end
ALTER TABLE campaigns ADD COLUMN send_time_end TEXT;

-- name: campaigns_timezone
ALTER TABLE campaigns ADD COLUMN timezone TEXT;

-- name: campaigns_daily_limit
ALTER TABLE campaigns ADD COLUMN daily_limit INTEGER;
