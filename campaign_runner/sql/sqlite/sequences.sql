-- The embedded store's sequence queries (stores/sequences_sqlite.py), twins of the
-- functions of 0010_sequences.sql; the comments there say what each one decides.

-- name: stop_leads
UPDATE campaign_leads
SET status = :status, error = :reason,
    stopped_step = max(current_step, coalesce((SELECT max(q.step_number) FROM email_queue q
                                               WHERE q.lead_id = campaign_leads.id
                                                 AND q.status = 'sent'), 0)),
    replied_at = CASE WHEN :status = 'replied' THEN :at ELSE replied_at END, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
  AND (status IN ('active', 'paused') OR (:status = 'replied' AND status = 'completed'))
RETURNING id;

-- name: fail_stopped_rows
UPDATE email_queue
SET status = 'failed', failure_kind = 'stopped',
    error = 'not sent: the lead is ' || :status || coalesce(' (' || :reason || ')', ''),
    updated_at = :now
WHERE lead_id IN (SELECT value FROM json_each(:ids)) AND status IN ('queued', 'processing')
  AND send_started_at IS NULL;

-- name: claimed_rows_of
-- The rows of these leads a worker claimed but has not started, for giving back what
-- their claims took of their domains' pacing (queries.sql's give_back_pacing).
SELECT lower(substr(from_email, instr(from_email, '@') + 1)) AS domain, locked_at
FROM email_queue
WHERE lead_id IN (SELECT value FROM json_each(:ids)) AND status = 'processing'
  AND send_started_at IS NULL;

-- name: suppressed_leads
SELECT l.id,
       max(coalesce(s.reason, '') LIKE '%bounce%' OR coalesce(s.source, '') LIKE '%bounce%'
           OR coalesce(s.source, '') LIKE '%out_of_band%') AS bounce
FROM campaign_leads l
JOIN suppressions s ON s.email = lower(trim(l.to_email))
WHERE l.status IN ('active', 'paused')
GROUP BY l.id;

-- name: advance_leads
UPDATE campaign_leads
SET current_step = s.step_number, last_email_at = s.sent_at, updated_at = :now,
    status = CASE WHEN s.next_step IS NULL THEN 'completed'
                  WHEN s.next_step <> s.step_number + 1 THEN 'paused'
                  ELSE 'active' END,
    error = CASE WHEN s.next_step > s.step_number + 1
                 THEN 'the sequence has no step ' || (s.step_number + 1)
                      || ' (steps are numbered 1, 2, 3 ... without gaps)' END,
    next_email_at = CASE WHEN s.next_step = s.step_number + 1 THEN
        strftime('%Y-%m-%dT%H:%M:%f+00:00',
                 julianday(s.sent_at) + s.delay_days + s.delay_hours / 24.0) END
FROM (
    SELECT l.id, q.step_number, q.sent_at, n.step_number AS next_step,
           n.delay_days, n.delay_hours
    FROM campaign_leads l
    JOIN email_queue q ON q.lead_id = l.id AND q.step_number = l.current_step + 1
    LEFT JOIN campaign_sequences n
        ON n.campaign_id = l.campaign_id
       AND n.step_number = (SELECT min(x.step_number) FROM campaign_sequences x
                            WHERE x.campaign_id = l.campaign_id
                              AND x.step_number > q.step_number)
    WHERE l.status IN ('active', 'paused') AND q.status = 'sent'
) AS s
WHERE campaign_leads.id = s.id;

-- name: rejected_leads
SELECT l.id
FROM campaign_leads l
JOIN email_queue q ON q.lead_id = l.id AND q.step_number = l.current_step + 1
WHERE l.status = 'active' AND q.status = 'failed' AND q.failure_kind = 'rejected';

-- name: bounced_on_next_step
UPDATE campaign_leads SET stopped_step = current_step + 1
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'bounced';

-- name: pause_failed_leads
UPDATE campaign_leads
SET status = 'paused', updated_at = :now,
    error = 'step ' || q.step_number || ' failed: ' || coalesce(q.error, '')
FROM email_queue q
WHERE q.lead_id = campaign_leads.id AND q.step_number = campaign_leads.current_step + 1
  AND campaign_leads.status = 'active' AND q.status = 'failed'
  AND q.failure_kind IS NOT 'stopped';

-- name: recount_steps
UPDATE campaign_sequences
SET variant_a_sent = c.a_sent, variant_b_sent = c.b_sent,
    variant_a_delivered = c.a_delivered, variant_b_delivered = c.b_delivered,
    variant_a_opened = c.a_opened, variant_b_opened = c.b_opened,
    variant_a_clicked = c.a_clicked, variant_b_clicked = c.b_clicked,
    variant_a_replied = c.a_replied, variant_b_replied = c.b_replied,
    variant_a_bounced = c.a_bounced, variant_b_bounced = c.b_bounced, updated_at = :now
FROM (
    SELECT s.id,
           (SELECT count(*) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.status = 'sent' AND q.variant = 'A')
               AS a_sent,
           (SELECT count(*) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.status = 'sent' AND q.variant = 'B')
               AS b_sent,
           (SELECT count(q.delivered_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'A') AS a_delivered,
           (SELECT count(q.delivered_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'B') AS b_delivered,
           (SELECT count(q.opened_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'A') AS a_opened,
           (SELECT count(q.opened_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'B') AS b_opened,
           (SELECT count(q.clicked_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'A') AS a_clicked,
           (SELECT count(q.clicked_at) FROM email_queue q
            WHERE q.lead_id IS NOT NULL AND q.campaign_id = s.campaign_id
              AND q.step_number = s.step_number AND q.variant = 'B') AS b_clicked,
           (SELECT count(*) FROM campaign_leads l
            WHERE l.campaign_id = s.campaign_id AND l.stopped_step = s.step_number
              AND l.status = 'replied' AND l.assigned_variant = 'A') AS a_replied,
           (SELECT count(*) FROM campaign_leads l
            WHERE l.campaign_id = s.campaign_id AND l.stopped_step = s.step_number
              AND l.status = 'replied' AND l.assigned_variant = 'B') AS b_replied,
           (SELECT count(*) FROM campaign_leads l
            WHERE l.campaign_id = s.campaign_id AND l.stopped_step = s.step_number
              AND l.status = 'bounced' AND l.assigned_variant = 'A') AS a_bounced,
           (SELECT count(*) FROM campaign_leads l
            WHERE l.campaign_id = s.campaign_id AND l.stopped_step = s.step_number
              AND l.status = 'bounced' AND l.assigned_variant = 'B') AS b_bounced
    FROM campaign_sequences s
    JOIN campaigns c ON c.id = s.campaign_id AND c.status IN ('scheduled', 'sending', 'paused')
) AS c
WHERE campaign_sequences.id = c.id
  AND (variant_a_sent, variant_b_sent, variant_a_delivered, variant_b_delivered,
       variant_a_opened, variant_b_opened, variant_a_clicked, variant_b_clicked,
       variant_a_replied, variant_b_replied, variant_a_bounced, variant_b_bounced)
      IS NOT (c.a_sent, c.b_sent, c.a_delivered, c.b_delivered, c.a_opened, c.b_opened,
              c.a_clicked, c.b_clicked, c.a_replied, c.b_replied, c.a_bounced, c.b_bounced);

-- name: sequence_schedules
SELECT c.id AS campaign_id, c.status, c.send_days, c.send_time_start, c.send_time_end,
       c.timezone, c.daily_limit,
       EXISTS (SELECT 1 FROM campaign_leads l
               WHERE l.campaign_id = c.id AND l.status = 'active'
                 AND julianday(coalesce(l.next_email_at, l.created_at)) <= julianday(:now))
           AS due
FROM campaigns c
WHERE c.status IN ('scheduled', 'sending', 'paused')
  AND EXISTS (SELECT 1 FROM campaign_leads l
              WHERE l.campaign_id = c.id AND l.status IN ('active', 'paused'))
ORDER BY c.id;

-- name: fit_leads
-- cr_fit_to_windows's leads: each gap before a span still to open (from the end of the
-- span before it, or from the start of time), read as a range of campaign_leads_due.
WITH spans AS (
    SELECT json_extract(w.value, '$.campaign_id') AS campaign_id,
           json_extract(o.value, '$[0]') AS opens_at,
           julianday(json_extract(o.value, '$[0]')) AS opens,
           julianday(json_extract(o.value, '$[1]')) AS closes
    FROM json_each(:windows) AS w, json_each(w.value, '$.openings') AS o
),
gaps AS (
    SELECT campaign_id, opens, opens_at,
           coalesce(lag(closes) OVER (PARTITION BY campaign_id ORDER BY opens), 0) AS since
    FROM spans
),
target AS (
    SELECT l.id, g.opens_at
    FROM gaps g
    JOIN campaign_leads l
      ON l.campaign_id = g.campaign_id AND l.status = 'active'
     AND julianday(coalesce(l.next_email_at, l.created_at)) >= g.since
     AND julianday(coalesce(l.next_email_at, l.created_at)) < g.opens
    WHERE g.opens > julianday(:now)
      AND NOT EXISTS (SELECT 1 FROM email_queue q
                      WHERE q.lead_id = l.id AND q.step_number = l.current_step + 1)
)
UPDATE campaign_leads
SET next_email_at = t.opens_at, updated_at = :now
FROM target t
WHERE campaign_leads.id = t.id;

-- name: fit_rows
WITH spans AS (
    SELECT json_extract(w.value, '$.campaign_id') AS campaign_id,
           json_extract(o.value, '$[0]') AS opens_at,
           json_extract(o.value, '$[1]') AS closes_at,
           julianday(json_extract(o.value, '$[0]')) AS opens,
           julianday(json_extract(o.value, '$[1]')) AS closes
    FROM json_each(:windows) AS w, json_each(w.value, '$.openings') AS o
),
unfitted AS (
    SELECT q.id, q.campaign_id, julianday(q.scheduled_for) AS scheduled,
           CASE WHEN julianday(q.send_before) <= julianday(:now) THEN julianday(:now)
                ELSE julianday(q.scheduled_for) END AS after
    FROM email_queue q
    WHERE q.status = 'queued' AND q.lead_id IS NOT NULL AND q.send_started_at IS NULL
      AND (q.send_before IS NULL OR julianday(q.send_before) <= julianday(:now))
      AND q.campaign_id IN (SELECT campaign_id FROM spans)
),
target AS (
    SELECT u.id, u.scheduled, s.opens, s.opens_at, s.closes_at
    FROM unfitted u
    JOIN spans s ON s.campaign_id = u.campaign_id AND s.closes > u.after
    WHERE NOT EXISTS (SELECT 1 FROM spans e
                      WHERE e.campaign_id = u.campaign_id AND e.closes > u.after
                        AND e.opens < s.opens)
)
UPDATE email_queue
SET scheduled_for = CASE WHEN t.scheduled < t.opens THEN t.opens_at ELSE scheduled_for END,
    send_before = t.closes_at, updated_at = :now
FROM target t
WHERE email_queue.id = t.id;

-- name: open_campaign
SELECT c.id, c.daily_limit, c.ab_testing_enabled, c.from_email,
       (SELECT count(*) FROM email_queue q
        WHERE q.campaign_id = c.id AND q.status IN ('queued', 'processing', 'sent')
          AND julianday(coalesce(q.sent_at, q.scheduled_for)) >= julianday(:day_start)
          AND julianday(coalesce(q.sent_at, q.scheduled_for)) < julianday(:day_end)) AS day_count,
       (SELECT variant_split FROM campaign_sequences s
        WHERE s.campaign_id = c.id AND s.step_number = 1) AS variant_split,
       (SELECT count(*) FROM campaign_leads l
        WHERE l.campaign_id = c.id AND l.domain_index IS NOT NULL) AS assigned
FROM campaigns c
WHERE c.id = :campaign_id AND c.status IN ('scheduled', 'sending');

-- name: due_leads
SELECT l.*, l.current_step + 1 AS step_number
FROM campaign_leads l
WHERE l.campaign_id = :campaign_id AND l.status = 'active'
  AND julianday(coalesce(l.next_email_at, l.created_at)) <= julianday(:now)
  AND NOT EXISTS (SELECT 1 FROM email_queue q
                  WHERE q.lead_id = l.id AND q.step_number = l.current_step + 1)
  AND (:ids IS NULL OR l.id IN (SELECT value FROM json_each(:ids)))
ORDER BY julianday(coalesce(l.next_email_at, l.created_at)), l.id
LIMIT :limit;

-- name: step
SELECT variant_a_subject, variant_a_body, variant_b_subject, variant_b_body,
       use_ai_generation, ai_prompt_context
FROM campaign_sequences
WHERE campaign_id = :campaign_id AND step_number = :step_number;

-- name: steps_of_campaign
SELECT step_number, variant_a_subject, variant_a_body, variant_b_subject, variant_b_body,
       use_ai_generation, ai_prompt_context
FROM campaign_sequences
WHERE campaign_id = :campaign_id
ORDER BY step_number;

-- name: earlier_steps
SELECT step_number, subject, body, message_id_header
FROM email_queue
WHERE lead_id = :lead_id AND status = 'sent'
ORDER BY step_number;

-- name: active_addresses
SELECT domain_index, from_email
FROM sending_domains
WHERE active AND domain_index IS NOT NULL AND coalesce(from_email, '') <> ''
ORDER BY domain_index;

-- name: pause_lead
UPDATE campaign_leads SET status = 'paused', error = :error, updated_at = :now
WHERE id = :id AND status = 'active';

-- name: address_lead
UPDATE campaign_leads
SET from_email = :from_email, domain_index = coalesce(domain_index, :domain_index),
    assigned_variant = coalesce(assigned_variant, :variant), updated_at = :now
WHERE id = :id
RETURNING assigned_variant;

-- name: insert_step_row
INSERT INTO email_queue (campaign_id, lead_id, step_number, variant, to_email, to_name,
                         metadata, from_email, domain_index, subject, body, generation_model,
                         generated_at, status, scheduled_for, message_id_header,
                         references_header, created_at, updated_at)
SELECT l.campaign_id, l.id, :step_number, l.assigned_variant, l.to_email, l.to_name,
       l.metadata, l.from_email, l.domain_index, :subject, :body, :model,
       CASE WHEN :model IS NOT NULL THEN :now END, 'queued', :now, :message_id,
       (SELECT group_concat(message_id_header, ' ')
        FROM (SELECT message_id_header FROM email_queue q
              WHERE q.lead_id = l.id AND q.status = 'sent' AND q.message_id_header IS NOT NULL
              ORDER BY q.step_number)),
       :now, :now
FROM campaign_leads l
WHERE l.id = :id
ON CONFLICT (lead_id, step_number) WHERE lead_id IS NOT NULL DO NOTHING;

-- name: reply_mailbox
SELECT uidvalidity, last_uid FROM reply_mailboxes WHERE mailbox = :mailbox;

-- name: save_reply_mailbox
INSERT INTO reply_mailboxes (mailbox, uidvalidity, last_uid, updated_at)
VALUES (:mailbox, :uidvalidity, :last_uid, :now)
ON CONFLICT (mailbox) DO UPDATE
SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
    updated_at = excluded.updated_at;

-- name: lead_by_message_id
SELECT q.lead_id FROM email_queue q
WHERE q.message_id_header IN (SELECT value FROM json_each(:ids)) AND q.lead_id IS NOT NULL
ORDER BY q.step_number DESC LIMIT 1;

-- name: lead_by_provider_id
SELECT q.lead_id FROM email_events e
JOIN email_queue q ON q.id = e.email_id
WHERE e.message_id IN (SELECT value FROM json_each(:ids)) AND q.lead_id IS NOT NULL
ORDER BY q.step_number DESC LIMIT 1;

-- name: lead_by_token
SELECT id FROM campaign_leads WHERE reply_token IN (SELECT value FROM json_each(:tokens)) LIMIT 1;

-- name: lead_by_sender
SELECT id FROM campaign_leads
WHERE lower(trim(to_email)) = lower(trim(:sender)) AND lower(from_email) = lower(:address)
  AND status IN ('active', 'paused', 'completed')
ORDER BY last_email_at IS NULL, julianday(last_email_at) DESC LIMIT 1;

-- name: insert_inbound
INSERT INTO inbound_messages (mailbox, uid, message_id, kind, lead_id, detail, received_at,
                              created_at)
VALUES (:mailbox, :uid, :message_id, :kind, :lead_id, :detail, :received_at, :now)
ON CONFLICT (mailbox, message_id) DO NOTHING;

-- name: sequence_status_campaigns
SELECT c.id AS campaign_id, c.name AS campaign_name,
       (SELECT coalesce(l.next_email_at, l.created_at) FROM campaign_leads l
        WHERE l.campaign_id = c.id AND l.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM email_queue q
                          WHERE q.lead_id = l.id AND q.step_number = l.current_step + 1)
        ORDER BY julianday(coalesce(l.next_email_at, l.created_at)) LIMIT 1) AS next_due
FROM campaigns c
WHERE EXISTS (SELECT 1 FROM campaign_leads l WHERE l.campaign_id = c.id)
ORDER BY c.name, c.id;

-- name: leads_by_status
SELECT status, count(*) AS n FROM campaign_leads WHERE campaign_id = :campaign_id
GROUP BY status;

-- name: steps_of
SELECT step_number, delay_days, delay_hours, variant_split, use_ai_generation,
       variant_a_sent, variant_b_sent, variant_a_delivered, variant_b_delivered,
       variant_a_opened, variant_b_opened, variant_a_clicked, variant_b_clicked,
       variant_a_replied, variant_b_replied, variant_a_bounced, variant_b_bounced
FROM campaign_sequences WHERE campaign_id = :campaign_id ORDER BY step_number;

-- name: has_steps
SELECT c.status FROM campaigns c
WHERE c.id = :campaign_id
  AND EXISTS (SELECT 1 FROM campaign_sequences s WHERE s.campaign_id = c.id);

-- name: stage_leads
INSERT INTO campaign_leads (campaign_id, to_email, to_name, metadata, status, created_at,
                            updated_at)
SELECT :campaign_id, i.email, i.to_name, i.metadata, 'active',
       strftime('%Y-%m-%dT%H:%M:%f+00:00', julianday(:now)
                + (row_number() OVER (ORDER BY julianday(i.created_at), i.id)) / 86400e6),
       :now
FROM imported_contacts i
WHERE i.campaign_id = :campaign_id AND coalesce(i.email, '') <> ''
  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM campaign_leads l
                  WHERE l.campaign_id = :campaign_id
                    AND lower(trim(l.to_email)) = lower(i.email));

-- name: suppressed_contacts
SELECT count(*) FROM imported_contacts i
WHERE i.campaign_id = :campaign_id
  AND EXISTS (SELECT 1 FROM suppressions x WHERE x.email = lower(i.email))
  AND NOT EXISTS (SELECT 1 FROM campaign_leads l
                  WHERE l.campaign_id = :campaign_id
                    AND lower(trim(l.to_email)) = lower(i.email));

-- name: staged_campaign
UPDATE campaigns
SET status = CASE WHEN status = 'draft' THEN 'staged' ELSE status END,
    stage_requested_at = NULL, request_error = NULL, updated_at = :now
WHERE id = :campaign_id
RETURNING status;

-- name: active_leads
SELECT count(*) FROM campaign_leads WHERE campaign_id = :campaign_id AND status = 'active';

-- name: launched_campaign
UPDATE campaigns
SET status = CASE WHEN status IN ('draft', 'staged') THEN 'scheduled' ELSE status END,
    launch_requested_at = NULL, request_error = NULL, updated_at = :now
WHERE id = :campaign_id
RETURNING status;

-- name: set_ab_testing
UPDATE campaigns SET ab_testing_enabled = :ab_testing, updated_at = :now
WHERE id = :campaign_id AND ab_testing_enabled IS NOT :ab_testing;

-- name: put_step
INSERT INTO campaign_sequences AS s
    (campaign_id, step_number, delay_days, delay_hours, variant_a_subject, variant_a_body,
     variant_b_subject, variant_b_body, variant_split, use_ai_generation, ai_prompt_context,
     created_at, updated_at)
VALUES (:campaign_id, :step_number, :delay_days, :delay_hours, :variant_a_subject,
        :variant_a_body, :variant_b_subject, :variant_b_body, :variant_split,
        :use_ai_generation, :ai_prompt_context, :now, :now)
ON CONFLICT (campaign_id, step_number) DO UPDATE
SET delay_days = excluded.delay_days, delay_hours = excluded.delay_hours,
    variant_a_subject = excluded.variant_a_subject, variant_a_body = excluded.variant_a_body,
    variant_b_subject = excluded.variant_b_subject, variant_b_body = excluded.variant_b_body,
    variant_split = excluded.variant_split, use_ai_generation = excluded.use_ai_generation,
    ai_prompt_context = excluded.ai_prompt_context, updated_at = :now
WHERE (s.delay_days, s.delay_hours, s.variant_a_subject, s.variant_a_body, s.variant_b_subject,
       s.variant_b_body, s.variant_split, s.use_ai_generation, s.ai_prompt_context)
      IS NOT (excluded.delay_days, excluded.delay_hours, excluded.variant_a_subject,
              excluded.variant_a_body, excluded.variant_b_subject, excluded.variant_b_body,
              excluded.variant_split, excluded.use_ai_generation, excluded.ai_prompt_context);

-- name: remove_steps_after
DELETE FROM campaign_sequences WHERE campaign_id = :campaign_id AND step_number > :last;
