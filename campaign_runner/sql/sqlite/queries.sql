-- Queries of the embedded store, loaded by name (`-- name: X`).

-- name: due_in_order
-- Due rows in claiming order, each with how many rows its sending domain may
-- still take in this claim: one while spacing is on, never past the day's cap;
-- a domain spacing holds back is left out. The index `email_queue_due_order` yields them
-- in this order without sorting, so the store reads only until its claim is
-- full and a long backlog costs a claim no more than a short one. A row whose
-- campaign is gone is still read, so the pipeline can fail it with a reason.
SELECT q.id, lower(substr(q.from_email, instr(q.from_email, '@') + 1)) AS domain,
       CASE
           WHEN :min_interval > 0 AND p.last_claimed_at IS NOT NULL
                AND julianday(p.last_claimed_at) > julianday(:now) - :min_interval / 86400.0
               THEN 0
           WHEN :daily_cap > 0 THEN min(
               :daily_cap - CASE WHEN p.day_start = :day_start THEN p.day_count ELSE 0 END,
               CASE WHEN :min_interval > 0 THEN 1 ELSE :daily_cap END)
           WHEN :min_interval > 0 THEN 1
       END AS room  -- NULL: no limit
FROM email_queue q
LEFT JOIN campaigns c ON c.id = q.campaign_id
LEFT JOIN domain_pacing p
       ON p.domain = lower(substr(q.from_email, instr(q.from_email, '@') + 1))
WHERE q.status = 'queued'
  AND julianday(q.scheduled_for) <= julianday(:now)
  AND (q.send_before IS NULL OR julianday(q.send_before) > julianday(:now))
  AND (NOT :bound_only OR q.send_before IS NOT NULL)
  AND cr_claimable(c.status)
  AND (room IS NULL OR room > 0)
ORDER BY julianday(q.scheduled_for), q.id;

-- name: claim_row
UPDATE email_queue
SET status = 'processing', locked_by = :worker, locked_at = :now,
    attempts = attempts + 1, updated_at = :now
WHERE id = :id AND status = 'queued';

-- name: pace_domain
INSERT INTO domain_pacing (domain, last_claimed_at, day_start, day_count)
VALUES (:domain, :now, :day_start, :count)
ON CONFLICT (domain) DO UPDATE SET
    day_count = CASE WHEN domain_pacing.day_start = excluded.day_start
                     THEN domain_pacing.day_count + excluded.day_count
                     ELSE excluded.day_count END,
    day_start = excluded.day_start,
    previous_claimed_at = domain_pacing.last_claimed_at,
    last_claimed_at = excluded.last_claimed_at;

-- name: start_campaigns
UPDATE campaigns
SET status = 'sending', started_at = coalesce(started_at, :now), updated_at = :now
WHERE status = 'scheduled'
  AND id IN (SELECT campaign_id FROM email_queue WHERE id IN (SELECT value FROM json_each(:ids)));

-- name: rows_by_id
SELECT q.id, q.campaign_id, q.to_email, q.to_name, q.from_email, q.subject, q.body,
       q.metadata, q.attempts, q.scheduled_for, q.message_id_header, q.references_header,
       (SELECT l.reply_token FROM campaign_leads l WHERE l.id = q.lead_id) AS reply_token,
       c.id AS c_id, c.name AS c_name, c.status AS c_status, c.subject AS c_subject,
       c.body_template AS c_body_template, c.ai_prompt AS c_ai_prompt,
       c.from_name AS c_from_name, c.reply_to AS c_reply_to,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(trim(q.to_email))) AS suppressed
FROM email_queue q
LEFT JOIN campaigns c ON c.id = q.campaign_id
WHERE q.id IN (SELECT value FROM json_each(:ids))
ORDER BY julianday(q.scheduled_for), q.id;

-- name: start_send
-- Only the owner of the lease may send; generated content is saved in the
-- same write, so what is recorded is exactly what leaves. The lease is renewed:
-- the send gets a whole LEASE_SECONDS however long the row waited.
UPDATE email_queue
SET send_started_at = :now, locked_at = :now, updated_at = :now,
    subject = CASE WHEN :model IS NULL THEN subject ELSE :subject END,
    body = CASE WHEN :model IS NULL THEN body ELSE :body END,
    generated_at = CASE WHEN :model IS NULL THEN generated_at ELSE :now END,
    generation_model = coalesce(:model, generation_model),
    prompt_tokens = coalesce(:prompt_tokens, prompt_tokens),
    completion_tokens = coalesce(:completion_tokens, completion_tokens)
WHERE id = :id AND status = 'processing' AND locked_by = :worker;

-- name: finish
UPDATE email_queue
SET status = :status,
    error = :error,
    failure_kind = :failure_kind,
    provider_message_id = coalesce(:provider_message_id, provider_message_id),
    sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END,
    scheduled_for = CASE WHEN :status = 'queued' THEN coalesce(:retry_at, scheduled_for)
                         ELSE scheduled_for END,
    attempts = CASE WHEN :give_back THEN max(attempts - 1, 0) ELSE attempts END,
    send_started_at = CASE WHEN :status = 'queued' THEN NULL ELSE send_started_at END,
    locked_by = CASE WHEN :status = 'queued' THEN NULL ELSE locked_by END,
    locked_at = CASE WHEN :status = 'queued' THEN NULL ELSE locked_at END,
    updated_at = :now
WHERE id = :id AND status = 'processing' AND locked_by = :worker;

-- name: renew_leases
-- The leases of every row a worker still holds, renewed in one statement (as
-- cr_renew_leases); `updated_at` is left alone, the row's data does not change.
UPDATE email_queue
SET locked_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status = 'processing' AND locked_by = :worker;

-- name: reopen_guessed
-- The first half of a late settle (as cr_settle_late): the row stale recovery failed
-- as ambiguous, held by this worker for this very send, back to `processing` so that
-- `finish` writes what the worker knows in the same transaction.
UPDATE email_queue
SET status = 'processing'
WHERE :status IN ('sent', 'failed', 'queued')
  AND id = :id AND status = 'failed' AND locked_by = :worker
  AND send_started_at = :send_started_at
  AND error LIKE 'ambiguous: interrupted during send%'
RETURNING campaign_id;

-- name: recount_campaign
UPDATE campaigns
SET sent_count = (SELECT count(*) FROM email_queue q
                  WHERE q.campaign_id = campaigns.id AND q.status = 'sent'),
    failed_count = (SELECT count(*) FROM email_queue q
                    WHERE q.campaign_id = campaigns.id AND q.status = 'failed'),
    updated_at = :now
WHERE id = :campaign_id;

-- name: leased_row
-- The row as its claim left it, read before its outcome is written.
SELECT lower(substr(from_email, instr(from_email, '@') + 1)) AS domain, locked_at,
       send_started_at
FROM email_queue
WHERE id = :id AND status = 'processing' AND locked_by = :worker;

-- name: give_back_pacing
-- A row that ended before anything left gives back what its claim took of its
-- domain's pacing (as cr_finish_v2): the day's unit while the domain's day is the one
-- it was claimed on; the interval's slot unless a later claim has taken it since.
UPDATE domain_pacing
SET day_count = CASE WHEN julianday(day_start) <= julianday(:locked_at)
                     THEN max(day_count - 1, 0) ELSE day_count END,
    last_claimed_at = CASE WHEN last_claimed_at = :locked_at
                           THEN coalesce(previous_claimed_at, '0001-01-01T00:00:00+00:00')
                           ELSE last_claimed_at END
WHERE domain = :domain;

-- name: give_back_stale_pacing
-- Before recover_stale, in its transaction: each row it will queue or fail that had
-- not started sending gives back its unit of the day its domain is on, if it was
-- claimed on that day (as cr_recover_stale).
UPDATE domain_pacing
SET day_count = max(day_count - (
        SELECT count(*) FROM email_queue q
        WHERE q.status = 'processing' AND julianday(q.locked_at) < julianday(:cutoff)
          AND q.send_started_at IS NULL
          AND lower(substr(q.from_email, instr(q.from_email, '@') + 1)) = domain_pacing.domain
          AND julianday(q.locked_at) >= julianday(domain_pacing.day_start)), 0);

-- name: recover_stale
-- A lease that ran out belongs to a worker that died. Before send_started_at
-- nothing left, so the row is queued again (unless it has used up its
-- attempts, which means it keeps killing workers); after it, nobody knows.
UPDATE email_queue
SET status = CASE
        WHEN send_started_at IS NOT NULL THEN 'failed'
        WHEN attempts >= :max_attempts THEN 'failed'
        ELSE 'queued' END,
    error = CASE
        WHEN send_started_at IS NOT NULL
            THEN 'ambiguous: interrupted during send (worker ' || coalesce(locked_by, '?') ||
                 ' stopped after the send started; it may have been delivered)'
        WHEN attempts >= :max_attempts
            THEN 'worker stopped while processing this row ' || attempts || ' times'
        ELSE 'recovered: worker ' || coalesce(locked_by, '?') || ' stopped before sending' END,
    failure_kind = CASE WHEN send_started_at IS NOT NULL THEN 'ambiguous' ELSE 'interrupted' END,
    locked_by = CASE WHEN send_started_at IS NULL AND attempts < :max_attempts
                     THEN NULL ELSE locked_by END,
    locked_at = CASE WHEN send_started_at IS NULL AND attempts < :max_attempts
                     THEN NULL ELSE locked_at END,
    updated_at = :now
WHERE status = 'processing' AND julianday(locked_at) < julianday(:cutoff)
RETURNING status;

-- name: roll_up
UPDATE campaigns
SET sent_count = (SELECT count(*) FROM email_queue q
                  WHERE q.campaign_id = campaigns.id AND q.status = 'sent'),
    failed_count = (SELECT count(*) FROM email_queue q
                    WHERE q.campaign_id = campaigns.id AND q.status = 'failed'),
    completed_at = CASE
        WHEN status = 'sending' AND NOT EXISTS (
            SELECT 1 FROM email_queue q
            WHERE q.campaign_id = campaigns.id AND q.status IN ('queued', 'processing'))
         AND NOT EXISTS (  -- a sequence campaign's active leads have steps to come
            SELECT 1 FROM campaign_leads l
            WHERE l.campaign_id = campaigns.id AND l.status = 'active')
        THEN :now ELSE completed_at END,
    status = CASE
        WHEN status = 'sending' AND NOT EXISTS (
            SELECT 1 FROM email_queue q
            WHERE q.campaign_id = campaigns.id AND q.status IN ('queued', 'processing'))
         AND NOT EXISTS (
            SELECT 1 FROM campaign_leads l
            WHERE l.campaign_id = campaigns.id AND l.status = 'active')
        THEN 'completed' ELSE status END,
    updated_at = :now
WHERE status IN ('sending', 'paused', 'cancelled');

-- name: insert_campaign
INSERT INTO campaigns (id, name, status, subject, body_template, ai_prompt, from_name, reply_to)
VALUES (:id, :name, :status, :subject, :body_template, :ai_prompt, :from_name, :reply_to);

-- name: insert_email
INSERT INTO email_queue (id, campaign_id, to_email, to_name, from_email, domain_index,
                         subject, body, status, scheduled_for, metadata)
VALUES (:id, :campaign_id, :to_email, :to_name, :from_email, :domain_index,
        :subject, :body, :status, :scheduled_for, :metadata);

-- name: campaign_rows
SELECT *
FROM email_queue
WHERE campaign_id = :campaign_id
ORDER BY rowid;

-- name: columns
SELECT name FROM pragma_table_info(:table);

-- name: guard_resumed
-- Resumed after the bounce guard paused it: judge only what is sent from now on.
UPDATE campaigns
SET paused_reason = NULL, guard_reset_at = :now
WHERE cr_claimable(status) AND paused_reason IS NOT NULL;

-- name: guard_pause
-- The bounce and complaint guard, after the roll-up (as cr_roll_up_guarded_v2 in
-- 0006_events.sql, which says how it judges): rows since the campaign's start or
-- guard_reset_at, by send_started_at; hard bounces are refusals (`rejected`) plus
-- bounce events of classes 10, 30, 90 (events/rules.py HARD_BOUNCE_CLASSES).
WITH counted AS (
    SELECT c.id,
           count(*) FILTER (WHERE q.status = 'sent') AS sent,
           count(*) FILTER (WHERE q.status = 'failed' AND q.failure_kind = 'rejected')
               AS refused,
           count(*) FILTER (WHERE q.status = 'sent'
                              AND (q.delivered_at IS NOT NULL OR q.bounced_at IS NOT NULL))
               AS reported,
           count(*) FILTER (WHERE q.status = 'sent' AND q.bounce_class IN (10, 30, 90))
               AS bounced,
           count(q.delivered_at) AS delivered,
           count(q.complained_at) AS complained,
           max(julianday(q.send_started_at)) FILTER (
               WHERE q.status = 'sent'
                 AND (q.delivered_at IS NOT NULL OR q.bounced_at IS NOT NULL)) AS last_reported,
           c.guard_reset_at
    FROM campaigns c
    JOIN email_queue q ON q.campaign_id = c.id
    WHERE c.status = 'sending'
      AND (c.guard_reset_at IS NULL
           OR julianday(coalesce(q.send_started_at, q.updated_at))
              >= julianday(c.guard_reset_at))
      AND EXISTS (SELECT 1 FROM email_queue w WHERE w.campaign_id = c.id AND w.status = 'queued')
    GROUP BY c.id
),
judged AS (
    SELECT n.*,
           CASE WHEN n.reported = 0 THEN n.refused
                ELSE (SELECT count(*) FROM email_queue q
                      WHERE q.campaign_id = n.id AND q.status = 'failed'
                        AND q.failure_kind = 'rejected'
                        AND (n.guard_reset_at IS NULL
                             OR julianday(coalesce(q.send_started_at, q.updated_at))
                                >= julianday(n.guard_reset_at))
                        AND julianday(coalesce(q.send_started_at, q.updated_at))
                            <= n.last_reported) END AS refused_judged
    FROM counted n
),
verdict AS (
    SELECT j.id,
           CASE WHEN j.reported = 0 THEN j.sent + j.refused
                ELSE j.reported + j.refused_judged END AS judged,
           j.refused_judged + j.bounced AS hard,
           j.refused_judged, j.bounced, j.delivered, j.complained, j.reported
    FROM judged j
),
tripped AS (
    SELECT v.*,
           :rate < 1 AND v.judged >= :min_sends AND v.hard > :rate * v.judged AS bounces
    FROM verdict v
)
UPDATE campaigns
SET status = 'paused',
    paused_reason = CASE
        WHEN t.bounces AND t.reported = 0
            THEN printf('bounce guard: the provider rejected %d of %d recipients, '
                        || 'more than BOUNCE_PAUSE_RATE allows', t.hard, t.judged)
        WHEN t.bounces
            THEN printf('bounce guard: %d of %d recipients bounced hard (%d refused at sending, '
                        || '%d bounced later), more than BOUNCE_PAUSE_RATE allows',
                        t.hard, t.judged, t.refused_judged, t.bounced)
        ELSE printf('complaint guard: %d of %d delivered recipients marked it as spam, '
                    || 'more than COMPLAINT_PAUSE_RATE allows', t.complained, t.delivered) END,
    updated_at = :now
FROM tripped t
WHERE campaigns.id = t.id
  AND (t.bounces
       OR (:complaint_rate < 1 AND t.delivered >= :complaint_min
           AND t.complained > :complaint_rate * t.delivered))
RETURNING campaigns.id AS campaign_id, campaigns.name AS campaign_name,
          campaigns.paused_reason AS reason;

-- name: status
-- One row per campaign that has rows (or whose rows outlived it), as
-- cr_campaign_status_v2: rows by status (JSON), queued rows a claim would take at
-- :now, the next queued row's time, failed rows that may have been delivered or whose
-- recipient was refused, the last error written, why the bounce guard paused it, the
-- other queued rows by why they wait ({reason: {rows, until}}, as cr_queued_reasons)
-- and failed rows by kind.
WITH queued AS (
    SELECT q.id, q.campaign_id, q.scheduled_for, c.status AS campaign_status,
           lower(substr(q.from_email, instr(q.from_email, '@') + 1)) AS domain,
           EXISTS (SELECT 1 FROM suppressions s
                   WHERE s.email = lower(trim(q.to_email))) AS suppressed
    FROM email_queue q
    LEFT JOIN campaigns c ON c.id = q.campaign_id
    WHERE q.status = 'queued'
),
due AS (
    SELECT k.id,
           row_number() OVER (PARTITION BY k.domain
                              ORDER BY julianday(k.scheduled_for), k.id) AS n,
           CASE WHEN p.day_start = :day_start THEN p.day_count ELSE 0 END AS used,
           max(coalesce(julianday(p.last_claimed_at), 0) + :min_interval / 86400.0,
               julianday(:now)) AS first_turn
    FROM queued k
    LEFT JOIN domain_pacing p ON p.domain = k.domain
    WHERE julianday(k.scheduled_for) <= julianday(:now) AND cr_claimable(k.campaign_status)
),
judged AS (
    SELECT k.campaign_id, k.scheduled_for,
           d.first_turn + :min_interval * (d.n - 1) / 86400.0 AS turn,
           CASE WHEN NOT cr_claimable(k.campaign_status) THEN 'campaign_' || k.campaign_status
                WHEN julianday(k.scheduled_for) > julianday(:now) THEN 'scheduled'
                WHEN :daily_cap > 0 AND d.used + d.n > :daily_cap THEN 'daily_cap'
                WHEN :min_interval > 0
                     AND d.first_turn + :min_interval * (d.n - 1) / 86400.0 > julianday(:now)
                    THEN 'domain_paced'
                WHEN k.suppressed THEN 'suppressed'
                ELSE 'due' END AS reason
    FROM queued k
    LEFT JOIN due d ON d.id = k.id
),
reasons AS (
    SELECT campaign_id, reason, count(*) AS n,
           CASE reason
               WHEN 'scheduled' THEN (SELECT j2.scheduled_for FROM judged j2
                                      WHERE j2.campaign_id = judged.campaign_id
                                        AND j2.reason = 'scheduled'
                                      ORDER BY julianday(j2.scheduled_for) LIMIT 1)
               WHEN 'domain_paced' THEN strftime('%Y-%m-%dT%H:%M:%f+00:00', min(turn))
           END AS until
    FROM judged
    GROUP BY campaign_id, reason
),
waiting AS (
    SELECT campaign_id,
           coalesce(sum(n) FILTER (WHERE reason IN ('due', 'suppressed')), 0) AS due_now,
           coalesce(json_group_object(reason, json_object('rows', n, 'until', until))
                        FILTER (WHERE reason <> 'due'), '{}') AS waiting
    FROM reasons
    GROUP BY campaign_id
),
by_status AS (
    SELECT campaign_id, status, count(*) AS n,
           count(*) FILTER (WHERE status = 'failed' AND failure_kind = 'ambiguous') AS ambiguous,
           count(*) FILTER (WHERE status = 'failed' AND failure_kind = 'rejected') AS rejected
    FROM email_queue
    GROUP BY campaign_id, status
),
per_campaign AS (
    SELECT campaign_id, json_group_object(status, n) AS rows,
           sum(ambiguous) AS ambiguous, sum(rejected) AS rejected
    FROM by_status
    GROUP BY campaign_id
),
kinds AS (
    SELECT campaign_id, json_group_object(failure_kind, n) AS failed_by_kind
    FROM (SELECT campaign_id, failure_kind, count(*) AS n FROM email_queue
          WHERE status = 'failed' AND failure_kind IS NOT NULL
          GROUP BY campaign_id, failure_kind)
    GROUP BY campaign_id
),
next_due AS (
    SELECT campaign_id, scheduled_for,
           row_number() OVER (PARTITION BY campaign_id
                              ORDER BY julianday(scheduled_for), id) AS n
    FROM email_queue
    WHERE status = 'queued' AND julianday(scheduled_for) > julianday(:now)
),
last_error AS (
    SELECT campaign_id, error, updated_at,
           row_number() OVER (PARTITION BY campaign_id
                              ORDER BY julianday(updated_at) DESC, id DESC) AS n
    FROM email_queue
    WHERE error IS NOT NULL
)
SELECT p.campaign_id, c.name AS campaign_name, c.status AS campaign_status, p.rows,
       coalesce(w.due_now, 0) AS due_now, d.scheduled_for AS next_scheduled_for, p.ambiguous,
       p.rejected, e.error AS last_error, e.updated_at AS last_error_at, c.paused_reason,
       coalesce(w.waiting, '{}') AS waiting, coalesce(k.failed_by_kind, '{}') AS failed_by_kind
FROM per_campaign p
LEFT JOIN campaigns c ON c.id = p.campaign_id
LEFT JOIN waiting w ON w.campaign_id = p.campaign_id
LEFT JOIN kinds k ON k.campaign_id = p.campaign_id
LEFT JOIN next_due d ON d.campaign_id = p.campaign_id AND d.n = 1
LEFT JOIN last_error e ON e.campaign_id = p.campaign_id AND e.n = 1
ORDER BY c.name, p.campaign_id;

-- name: campaign_status
SELECT status FROM campaigns WHERE id = :campaign_id;

-- name: failed_kinds
-- A campaign's failed rows, each with what `retry-failed` may do with it (as
-- cr_failed_kinds): a recipient suppressed since is never requeued; a row that may
-- have been delivered only when asked to.
SELECT q.id,
       CASE WHEN EXISTS (SELECT 1 FROM suppressions s
                         WHERE s.email = lower(trim(q.to_email))) THEN 'suppressed'
            WHEN q.failure_kind = 'ambiguous' THEN 'ambiguous'
            ELSE 'retryable' END AS kind
FROM email_queue q
WHERE q.campaign_id = :campaign_id AND q.status = 'failed';

-- name: requeue_failed
UPDATE email_queue
SET status = 'queued', attempts = 0, error = NULL, failure_kind = NULL, locked_by = NULL,
    locked_at = NULL,
    send_started_at = NULL, scheduled_for = :now, updated_at = :now
WHERE id = :id AND status = 'failed';

-- name: reopen_campaign
-- A completed campaign that got rows back sends them.
UPDATE campaigns
SET status = 'sending', completed_at = NULL, updated_at = :now
WHERE id = :campaign_id AND status = 'completed';

-- name: recipient_of
-- The unsubscribe endpoint's two questions: whose is a row, and suppress that
-- recipient. The suppression key is what the claim compares with: lower(trim(to_email)).
SELECT to_email FROM email_queue WHERE id = :id AND trim(coalesce(to_email, '')) <> '';

-- name: suppress_recipient_of
INSERT INTO suppressions (email, reason, source, created_at)
SELECT lower(trim(to_email)), :reason, :source, :now
  FROM email_queue
 WHERE id = :id AND trim(coalesce(to_email, '')) <> ''
    ON CONFLICT (email) DO NOTHING;
