-- The sequence columns of `campaigns` and `email_queue` (twins of 0010_sequences.sql),
-- added to a file that lacks them as upgrades.sql's are (see SqliteStore._upgrade).

-- name: campaigns_ab_testing_enabled
ALTER TABLE campaigns ADD COLUMN ab_testing_enabled INTEGER NOT NULL DEFAULT 0;

-- name: campaigns_from_email
ALTER TABLE campaigns ADD COLUMN from_email TEXT;

-- name: email_queue_lead_id
ALTER TABLE email_queue ADD COLUMN lead_id TEXT;

-- name: email_queue_step_number
ALTER TABLE email_queue ADD COLUMN step_number INTEGER;

-- name: email_queue_variant
ALTER TABLE email_queue ADD COLUMN variant TEXT;

-- name: email_queue_message_id_header
ALTER TABLE email_queue ADD COLUMN message_id_header TEXT;

-- name: email_queue_references_header
ALTER TABLE email_queue ADD COLUMN references_header TEXT;

-- name: email_queue_send_before
ALTER TABLE email_queue ADD COLUMN send_before TEXT;
