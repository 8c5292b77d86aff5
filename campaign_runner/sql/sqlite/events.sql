-- The embedded store's twin of 0006_events.sql's functions, loaded by name and run
-- in order by campaign_runner/events/sqlite_ingest.py inside the store's
-- BEGIN IMMEDIATE transaction (SQLite's write lock), so each call is all or nothing
-- and no other process writes in between. The semantics are cr_ingest_events'.

-- name: ensure_position
INSERT INTO cr_events_position (stream) VALUES ('sparkpost') ON CONFLICT DO NOTHING;

-- name: position
SELECT * FROM cr_events_position WHERE stream = 'sparkpost';

-- name: claim_poll
UPDATE cr_events_position
SET lease_holder = :poller, lease_until = :lease_until, polled_at = :now, updated_at = :now
WHERE stream = 'sparkpost'
  AND (lease_holder IS NULL OR lease_holder = :poller
       OR julianday(lease_until) <= julianday(:now));

-- name: release_poll
UPDATE cr_events_position
SET lease_holder = NULL, lease_until = NULL, updated_at = :now
WHERE stream = 'sparkpost' AND lease_holder = :poller;

-- name: page_table
CREATE TEMP TABLE IF NOT EXISTS events_page (
    event_id        TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    occurred_at     TEXT,
    row_id          TEXT,
    campaign_id     TEXT,
    transmission_id TEXT,
    message_id      TEXT,
    recipient       TEXT,
    bounce_class    INTEGER,
    reason          TEXT,
    problem         TEXT,
    sets            TEXT,
    suppress        TEXT,
    evidence        TEXT,
    raw             TEXT,
    is_new          INTEGER NOT NULL,
    ambiguous       INTEGER NOT NULL DEFAULT 0
);

-- name: page_index
CREATE INDEX IF NOT EXISTS temp.events_page_row ON events_page (row_id);

-- name: page_clear
DELETE FROM temp.events_page;

-- name: page_fill
-- The page, each event once, with the row it lands on (rcpt_meta's email_id, else
-- the transmission id, else an earlier event of its message_id) and whether it is
-- new. Times are rewritten in one form, so that min() over them is the earliest.
INSERT OR IGNORE INTO temp.events_page (
    event_id, type, occurred_at, row_id, campaign_id, transmission_id, message_id,
    recipient, bounce_class, reason, problem, sets, suppress, evidence, raw, is_new)
SELECT e.event_id, e.type, e.occurred_at,
       coalesce((SELECT q.id FROM email_queue q WHERE q.id = e.email_id),
                (SELECT q.id FROM email_queue q
                 WHERE e.transmission_id IS NOT NULL AND q.provider_message_id = e.transmission_id
                 ORDER BY q.id LIMIT 1),
                (SELECT ev.email_id FROM email_events ev
                 WHERE e.message_id IS NOT NULL AND ev.message_id = e.message_id
                   AND ev.email_id IS NOT NULL
                 LIMIT 1)),
       e.campaign_id, e.transmission_id, e.message_id, e.recipient, e.bounce_class,
       e.reason, e.problem, e.sets, e.suppress, e.evidence, e.raw,
       NOT EXISTS (SELECT 1 FROM email_events x WHERE x.event_id = e.event_id)
FROM (SELECT j.value ->> '$.event_id' AS event_id,
             coalesce(j.value ->> '$.type', '') AS type,
             strftime('%Y-%m-%dT%H:%M:%f+00:00', j.value ->> '$.occurred_at') AS occurred_at,
             j.value ->> '$.email_id' AS email_id,
             j.value ->> '$.campaign_id' AS campaign_id,
             j.value ->> '$.transmission_id' AS transmission_id,
             j.value ->> '$.message_id' AS message_id,
             j.value ->> '$.recipient' AS recipient,
             j.value ->> '$.bounce_class' AS bounce_class,
             j.value ->> '$.reason' AS reason,
             j.value ->> '$.problem' AS problem,
             j.value ->> '$.sets' AS sets,
             j.value ->> '$.suppress' AS suppress,
             j.value ->> '$.evidence' AS evidence,
             coalesce(j.value -> '$.raw', 'null') AS raw
      FROM json_each(:events) j) e
WHERE e.event_id IS NOT NULL;

-- name: page_mark_ambiguous
-- An ambiguous row (failed, failure_kind 'ambiguous') with evidence either way in the page.
UPDATE temp.events_page SET ambiguous = 1
WHERE is_new AND evidence IS NOT NULL
  AND row_id IN (SELECT id FROM email_queue
                 WHERE status = 'failed' AND failure_kind = 'ambiguous');

-- name: page_counts
SELECT count(*) AS received,
       coalesce(sum(is_new), 0) AS stored,
       coalesce(sum(is_new AND row_id IS NULL), 0) AS unmatched,
       coalesce(sum(is_new AND problem IS NOT NULL), 0) AS problems,
       (SELECT count(DISTINCT row_id) FROM temp.events_page
        WHERE ambiguous AND evidence = 'sent') AS settled_sent,
       (SELECT count(DISTINCT p.row_id) FROM temp.events_page p
        WHERE p.ambiguous AND p.evidence = 'not_sent'
          AND NOT EXISTS (SELECT 1 FROM temp.events_page s
                          WHERE s.row_id = p.row_id AND s.ambiguous
                            AND s.evidence = 'sent')) AS settled_not_sent
FROM temp.events_page;

-- name: page_store
INSERT INTO email_events (event_id, type, occurred_at, email_id, campaign_id,
                          transmission_id, message_id, recipient, bounce_class, reason,
                          problem, raw, received_at)
SELECT p.event_id, p.type, p.occurred_at, p.row_id,
       coalesce((SELECT q.campaign_id FROM email_queue q WHERE q.id = p.row_id), p.campaign_id),
       p.transmission_id, p.message_id, p.recipient, p.bounce_class, p.reason, p.problem,
       p.raw, :now
FROM temp.events_page p
WHERE p.is_new;

-- name: page_land
-- Each new fact on its row when it is the earliest of its kind; ambiguous rows
-- settled by the evidence (see cr_ingest_events).
UPDATE email_queue AS q
SET delivered_at = CASE WHEN a.delivered_at IS NOT NULL AND (q.delivered_at IS NULL
                        OR julianday(a.delivered_at) < julianday(q.delivered_at))
                        THEN a.delivered_at ELSE q.delivered_at END,
    opened_at = CASE WHEN a.opened_at IS NOT NULL AND (q.opened_at IS NULL
                     OR julianday(a.opened_at) < julianday(q.opened_at))
                     THEN a.opened_at ELSE q.opened_at END,
    clicked_at = CASE WHEN a.clicked_at IS NOT NULL AND (q.clicked_at IS NULL
                      OR julianday(a.clicked_at) < julianday(q.clicked_at))
                      THEN a.clicked_at ELSE q.clicked_at END,
    bounced_at = CASE WHEN a.bounced_at IS NOT NULL AND (q.bounced_at IS NULL
                      OR julianday(a.bounced_at) < julianday(q.bounced_at))
                      THEN a.bounced_at ELSE q.bounced_at END,
    bounce_class = CASE WHEN a.bounced_at IS NOT NULL AND (q.bounced_at IS NULL
                        OR julianday(a.bounced_at) < julianday(q.bounced_at))
                        THEN a.bounce_class ELSE q.bounce_class END,
    bounce_reason = CASE WHEN a.bounced_at IS NOT NULL AND (q.bounced_at IS NULL
                         OR julianday(a.bounced_at) < julianday(q.bounced_at))
                         THEN a.bounce_reason ELSE q.bounce_reason END,
    complained_at = CASE WHEN a.complained_at IS NOT NULL AND (q.complained_at IS NULL
                         OR julianday(a.complained_at) < julianday(q.complained_at))
                         THEN a.complained_at ELSE q.complained_at END,
    unsubscribed_at = CASE WHEN a.unsubscribed_at IS NOT NULL AND (q.unsubscribed_at IS NULL
                           OR julianday(a.unsubscribed_at) < julianday(q.unsubscribed_at))
                           THEN a.unsubscribed_at ELSE q.unsubscribed_at END,
    status = CASE WHEN a.sent_proof IS NOT NULL THEN 'sent' ELSE q.status END,
    sent_at = CASE WHEN a.sent_proof IS NOT NULL
                   THEN coalesce(q.sent_at, a.injected_at, q.send_started_at, :now)
                   ELSE q.sent_at END,
    provider_message_id = CASE WHEN a.sent_proof IS NOT NULL
                               THEN coalesce(q.provider_message_id, a.transmission_id)
                               ELSE q.provider_message_id END,
    failure_kind = CASE WHEN a.sent_proof IS NOT NULL THEN NULL
                        WHEN a.not_sent_proof IS NOT NULL THEN 'not_accepted'
                        ELSE q.failure_kind END,
    error = CASE WHEN a.sent_proof IS NOT NULL THEN NULL
                 WHEN a.not_sent_proof IS NOT NULL
                     THEN 'not accepted: SparkPost reported ' || a.not_sent_proof
                          || ' (it was ' || q.error || ')'
                 ELSE q.error END,
    settled_note = CASE WHEN a.sent_proof IS NOT NULL
                            THEN 'settled as sent: SparkPost reported ' || a.sent_proof
                                 || ' (it was ' || q.error || ')'
                        WHEN a.not_sent_proof IS NOT NULL
                            THEN 'settled as not sent: SparkPost reported ' || a.not_sent_proof
                        ELSE q.settled_note END,
    updated_at = :now
FROM (
    SELECT r.row_id,
           min(r.occurred_at) FILTER (WHERE r.sets = 'delivered_at') AS delivered_at,
           min(r.occurred_at) FILTER (WHERE r.sets = 'opened_at') AS opened_at,
           min(r.occurred_at) FILTER (WHERE r.sets = 'clicked_at') AS clicked_at,
           min(r.occurred_at) FILTER (WHERE r.sets = 'bounced_at') AS bounced_at,
           (SELECT b.bounce_class FROM temp.events_page b
            WHERE b.row_id = r.row_id AND b.is_new AND b.sets = 'bounced_at'
            ORDER BY b.occurred_at LIMIT 1) AS bounce_class,
           (SELECT b.reason FROM temp.events_page b
            WHERE b.row_id = r.row_id AND b.is_new AND b.sets = 'bounced_at'
            ORDER BY b.occurred_at LIMIT 1) AS bounce_reason,
           min(r.occurred_at) FILTER (WHERE r.sets = 'complained_at') AS complained_at,
           min(r.occurred_at) FILTER (WHERE r.sets = 'unsubscribed_at') AS unsubscribed_at,
           min(r.occurred_at) FILTER (WHERE r.type = 'injection') AS injected_at,
           (SELECT s.type || ' event ' || s.event_id || ' at ' || coalesce(s.occurred_at, '?')
            FROM temp.events_page s
            WHERE s.row_id = r.row_id AND s.ambiguous AND s.evidence = 'sent'
            ORDER BY s.occurred_at IS NULL, s.occurred_at LIMIT 1) AS sent_proof,
           (SELECT s.type || ' event ' || s.event_id || ' at ' || coalesce(s.occurred_at, '?')
                   || coalesce(': ' || s.reason, '')
            FROM temp.events_page s
            WHERE s.row_id = r.row_id AND s.ambiguous AND s.evidence = 'not_sent'
            ORDER BY s.occurred_at IS NULL, s.occurred_at LIMIT 1) AS not_sent_proof,
           max(r.transmission_id) AS transmission_id
    FROM temp.events_page r
    WHERE r.is_new AND r.row_id IS NOT NULL
    GROUP BY r.row_id
) AS a
WHERE q.id = a.row_id;

-- name: page_suppress
INSERT INTO suppressions (email, reason, source, created_at)
SELECT lower(p.recipient), p.suppress, 'sparkpost ' || p.type, :now
FROM temp.events_page p
WHERE p.is_new AND p.suppress IS NOT NULL AND p.recipient IS NOT NULL
ORDER BY p.occurred_at IS NULL, p.occurred_at
ON CONFLICT (email) DO NOTHING;

-- name: page_campaigns
SELECT DISTINCT q.campaign_id
FROM temp.events_page p JOIN email_queue q ON q.id = p.row_id
WHERE p.is_new;

-- name: roll_up
-- The counters of the campaigns in :campaign_ids (a JSON array; NULL: all).
UPDATE campaigns
SET sent_count = (SELECT count(*) FROM email_queue q
                  WHERE q.campaign_id = campaigns.id AND q.status = 'sent'),
    failed_count = (SELECT count(*) FROM email_queue q
                    WHERE q.campaign_id = campaigns.id AND q.status = 'failed'),
    delivered_count = (SELECT count(delivered_at) FROM email_queue q
                       WHERE q.campaign_id = campaigns.id),
    opened_count = (SELECT count(opened_at) FROM email_queue q
                    WHERE q.campaign_id = campaigns.id),
    clicked_count = (SELECT count(clicked_at) FROM email_queue q
                     WHERE q.campaign_id = campaigns.id),
    bounced_count = (SELECT count(bounced_at) FROM email_queue q
                     WHERE q.campaign_id = campaigns.id),
    complained_count = (SELECT count(complained_at) FROM email_queue q
                        WHERE q.campaign_id = campaigns.id),
    unsubscribed_count = (SELECT count(unsubscribed_at) FROM email_queue q
                          WHERE q.campaign_id = campaigns.id),
    updated_at = :now
WHERE :campaign_ids IS NULL OR id IN (SELECT value FROM json_each(:campaign_ids));

-- name: advance
UPDATE cr_events_position
SET read_since = CASE WHEN :next_path IS NULL
                           AND (read_since IS NULL OR read_to IS NULL
                                OR julianday(:window_from) > julianday(read_to))
                      THEN :window_from ELSE read_since END,
    read_to = CASE WHEN :next_path IS NOT NULL THEN read_to
                   WHEN read_to IS NULL OR julianday(:window_to) > julianday(read_to)
                       THEN :window_to
                   ELSE read_to END,
    window_from = CASE WHEN :next_path IS NULL THEN NULL ELSE :window_from END,
    window_to = CASE WHEN :next_path IS NULL THEN NULL ELSE :window_to END,
    next_path = :next_path,
    lease_until = :lease_until,
    events_stored = events_stored + :stored,
    events_unmatched = events_unmatched + :unmatched,
    updated_at = :now
WHERE stream = 'sparkpost';

-- name: settle_unseen
UPDATE email_queue
SET failure_kind = 'not_accepted',
    error = 'not accepted: SparkPost reported no event for this message in the '
            || (:grace_seconds / 60) || ' minutes after its send (events read from '
            || p.read_since || ' to ' || p.read_to || '; it was ' || email_queue.error || ')',
    settled_note = 'settled as not sent: no SparkPost event by ' || p.read_to,
    updated_at = :now
FROM (SELECT read_since, read_to FROM cr_events_position
      WHERE stream = 'sparkpost' AND read_since IS NOT NULL AND read_to IS NOT NULL) AS p
WHERE email_queue.status = 'failed' AND email_queue.failure_kind = 'ambiguous'
  AND julianday(email_queue.send_started_at) >= julianday(p.read_since)
  AND julianday(email_queue.send_started_at) + :grace_seconds / 86400.0
      <= julianday(p.read_to)
  AND NOT EXISTS (SELECT 1 FROM email_events e WHERE e.email_id = email_queue.id)
  AND (email_queue.provider_message_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM email_events e
                      WHERE e.transmission_id = email_queue.provider_message_id));

-- name: email_queue_table
SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'email_queue';

-- name: rewrite_email_queue_table
-- Only under PRAGMA writable_schema, by sqlite_ingest.widen_failure_kinds.
UPDATE sqlite_schema SET sql = :sql WHERE type = 'table' AND name = 'email_queue';

-- name: status
-- As cr_events_status: each campaign's counters, and its ambiguous rows settled as
-- sent, still in doubt and confirmed not accepted.
SELECT c.id AS campaign_id, c.delivered_count AS delivered, c.opened_count AS opened,
       c.clicked_count AS clicked, c.bounced_count AS bounced,
       c.complained_count AS complained, c.unsubscribed_count AS unsubscribed,
       coalesce(r.settled_sent, 0) AS settled_sent,
       coalesce(r.pending, 0) AS ambiguous_pending,
       coalesce(r.not_accepted, 0) AS not_accepted
FROM campaigns c
LEFT JOIN (
    SELECT q.campaign_id,
           count(*) FILTER (WHERE q.status = 'sent') AS settled_sent,
           count(*) FILTER (WHERE q.status = 'failed' AND q.failure_kind = 'ambiguous')
               AS pending,
           count(*) FILTER (WHERE q.status = 'failed' AND q.failure_kind = 'not_accepted')
               AS not_accepted
    FROM email_queue q
    WHERE q.settled_note IS NOT NULL OR q.failure_kind IN ('ambiguous', 'not_accepted')
    GROUP BY q.campaign_id
) r ON r.campaign_id = c.id;
