-- The put-work-in queries of the embedded store (twins of the functions of
-- 0008_put_work_in.sql), loaded by name. Each method of stores/intake_sqlite.py runs
-- its queries in one BEGIN IMMEDIATE transaction.

-- name: find_campaign
SELECT id, key, name, status FROM campaigns
WHERE key = :ref OR id = :ref
ORDER BY key IS NULL
LIMIT 1;

-- name: keyed_campaign
SELECT id, status, name, subject, body_template, ai_prompt, from_name, reply_to, send_days,
       send_time_start, send_time_end, timezone, daily_limit
FROM campaigns WHERE key = :key;

-- name: insert_keyed_campaign
INSERT INTO campaigns (key, name, status, created_at, updated_at)
VALUES (:key, :name, 'draft', :now, :now)
ON CONFLICT (key) DO NOTHING;

-- name: update_campaign_file
UPDATE campaigns
SET name = :name, subject = :subject, body_template = :body_template, ai_prompt = :ai_prompt,
    from_name = :from_name, reply_to = :reply_to, send_days = :send_days,
    send_time_start = :send_time_start, send_time_end = :send_time_end,
    timezone = :timezone, daily_limit = :daily_limit, updated_at = :now
WHERE id = :id;

-- name: campaign_status_of
SELECT status FROM campaigns WHERE id = :campaign_id;

-- name: incoming_table
CREATE TEMP TABLE IF NOT EXISTS intake_incoming (
    email TEXT, to_name TEXT, metadata TEXT, n INTEGER
);

-- name: incoming_clear
DELETE FROM intake_incoming;

-- name: incoming_add
INSERT INTO intake_incoming (email, to_name, metadata, n)
VALUES (:email, :to_name, :metadata, :n);

-- name: incoming_judged
-- How many incoming contacts the campaign already has (imported, or a row), and how
-- many of the others are suppressed.
SELECT count(*) FILTER (WHERE present) AS in_campaign,
       count(*) FILTER (WHERE suppressed AND NOT present) AS suppressed
FROM (SELECT EXISTS (SELECT 1 FROM imported_contacts x
                     WHERE x.campaign_id = :campaign_id AND lower(x.email) = lower(i.email))
             OR EXISTS (SELECT 1 FROM email_queue q
                        WHERE q.campaign_id = :campaign_id
                          AND lower(trim(q.to_email)) = lower(i.email)) AS present,
             EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(i.email)) AS suppressed
      FROM intake_incoming i);

-- name: import_incoming
INSERT INTO imported_contacts (campaign_id, email, to_name, metadata, created_at)
SELECT :campaign_id, i.email, i.to_name, i.metadata, :now
FROM intake_incoming i
WHERE NOT EXISTS (SELECT 1 FROM imported_contacts x
                  WHERE x.campaign_id = :campaign_id AND lower(x.email) = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM email_queue q
                  WHERE q.campaign_id = :campaign_id AND lower(trim(q.to_email)) = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(i.email))
ORDER BY i.n
ON CONFLICT DO NOTHING;

-- name: stage_suppressed
SELECT count(*) FROM imported_contacts i
WHERE i.campaign_id = :campaign_id
  AND EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM email_queue q
                  WHERE q.campaign_id = :campaign_id AND lower(trim(q.to_email)) = lower(i.email));

-- name: stage_contacts
-- Rows are inserted in import order, so their rowids keep it for launch.
INSERT INTO email_queue (campaign_id, to_email, to_name, metadata, status, created_at, updated_at)
SELECT :campaign_id, i.email, i.to_name, i.metadata, 'staged', :now, :now
FROM imported_contacts i
WHERE i.campaign_id = :campaign_id
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM email_queue q
                  WHERE q.campaign_id = :campaign_id AND lower(trim(q.to_email)) = lower(i.email))
ORDER BY julianday(i.created_at), i.rowid;

-- name: staged_campaign
UPDATE campaigns
SET status = CASE WHEN status = 'draft' THEN 'staged' ELSE status END,
    stage_requested_at = NULL, request_error = NULL, updated_at = :now
WHERE id = :campaign_id
RETURNING status;

-- name: launch_campaign_row
SELECT id AS campaign_id, status AS campaign_status, send_days, send_time_start, send_time_end,
       timezone, daily_limit
FROM campaigns WHERE id = :campaign_id;

-- name: active_addresses
SELECT domain_index, from_email, from_name FROM sending_domains
WHERE active AND domain_index IS NOT NULL AND coalesce(from_email, '') <> ''
ORDER BY domain_index;

-- name: staged_ids
SELECT id FROM email_queue
WHERE campaign_id = :campaign_id AND status = 'staged'
ORDER BY julianday(created_at), rowid;

-- name: domain_tails
-- Each sending domain's latest queued time and its last claim (either may be absent).
SELECT domain, scheduled_for AS latest FROM (
    SELECT lower(substr(from_email, instr(from_email, '@') + 1)) AS domain, scheduled_for,
           row_number() OVER (PARTITION BY lower(substr(from_email, instr(from_email, '@') + 1))
                              ORDER BY julianday(scheduled_for) DESC) AS n
    FROM email_queue
    WHERE status IN ('queued', 'processing') AND scheduled_for IS NOT NULL
)
WHERE n = 1
UNION ALL
SELECT domain, last_claimed_at FROM domain_pacing;

-- name: campaign_taken
SELECT coalesce(sent_at, scheduled_for) AS at FROM email_queue
WHERE campaign_id = :campaign_id AND status IN ('queued', 'processing', 'sent')
  AND julianday(coalesce(sent_at, scheduled_for)) >= julianday(:now) - 2;

-- name: queue_planned
UPDATE email_queue
SET status = 'queued', from_email = :from_email, domain_index = :domain_index,
    scheduled_for = :scheduled_for, updated_at = :now
WHERE id = :id AND campaign_id = :campaign_id AND status = 'staged';

-- name: launched_campaign
UPDATE campaigns
SET status = CASE WHEN status IN ('draft', 'staged') THEN 'scheduled' ELSE status END,
    launch_requested_at = NULL, request_error = NULL, updated_at = :now
WHERE id = :campaign_id
RETURNING status;

-- name: sending_domains
SELECT domain_index, from_email, from_name, active FROM sending_domains ORDER BY domain_index;

-- name: reactivate_sending_domain
UPDATE sending_domains
SET active = 1, from_name = coalesce(:from_name, from_name), updated_at = :now
WHERE lower(from_email) = lower(:from_email)
RETURNING domain_index, from_email, from_name, active;

-- name: insert_sending_domain
INSERT INTO sending_domains (domain_index, from_email, from_name, active, created_at, updated_at)
VALUES ((SELECT coalesce(max(domain_index) + 1, 0) FROM sending_domains),
        :from_email, :from_name, 1, :now, :now)
RETURNING domain_index, from_email, from_name, active;

-- name: set_sending_domain_active
UPDATE sending_domains
SET active = :active, updated_at = :now
WHERE lower(from_email) = lower(:which) OR CAST(domain_index AS TEXT) = :which
RETURNING domain_index, from_email, from_name, active;

-- name: requested_work
SELECT id AS campaign_id, stage_requested_at IS NOT NULL AS stage,
       launch_requested_at IS NOT NULL AS launch
FROM campaigns
WHERE stage_requested_at IS NOT NULL OR launch_requested_at IS NOT NULL
ORDER BY min(coalesce(julianday(stage_requested_at), 1e9),
             coalesce(julianday(launch_requested_at), 1e9)), id;

-- name: refuse_request
UPDATE campaigns
SET stage_requested_at = NULL, launch_requested_at = NULL, request_error = :error,
    updated_at = :now
WHERE id = :campaign_id;

-- name: rows_page
-- One page in sending order (scheduled_for, then id; rows not yet scheduled last).
SELECT * FROM email_queue q
WHERE q.campaign_id = :campaign_id
  AND (:status IS NULL OR q.status = :status)
  AND (:after_id IS NULL
       OR (coalesce(julianday(q.scheduled_for), 1e9), q.id)
          > (SELECT coalesce(julianday(scheduled_for), 1e9), id
             FROM email_queue WHERE id = :after_id))
ORDER BY coalesce(julianday(q.scheduled_for), 1e9), q.id
LIMIT :limit;

-- name: first_row
SELECT id FROM email_queue
WHERE campaign_id = :campaign_id AND (:row_id IS NULL OR id = :row_id)
ORDER BY julianday(created_at), rowid
LIMIT 1;

-- name: first_contact
-- The campaign's first imported contact, as a row that has no id yet.
SELECT '00000000-0000-0000-0000-000000000000' AS id, c.id AS campaign_id,
       i.email AS to_email, i.to_name, NULL AS from_email, NULL AS subject, NULL AS body,
       i.metadata, 0 AS attempts, NULL AS scheduled_for,
       c.id AS c_id, c.name AS c_name, c.status AS c_status, c.subject AS c_subject,
       c.body_template AS c_body_template, c.ai_prompt AS c_ai_prompt,
       c.from_name AS c_from_name, c.reply_to AS c_reply_to, 0 AS suppressed
FROM imported_contacts i
JOIN campaigns c ON c.id = i.campaign_id
WHERE i.campaign_id = :campaign_id
ORDER BY julianday(i.created_at), i.rowid
LIMIT 1;

-- name: address_suppressed
SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = lower(trim(:address)));
