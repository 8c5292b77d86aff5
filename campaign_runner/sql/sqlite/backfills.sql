-- What a column added by upgrades.sql holds for the rows that were there before it,
-- run once, right after the column of the same name is added.

-- name: email_queue_failure_kind
-- The kind from the prefix the error text starts with (as cr_failure_kind_of in
-- 0005_failure_kinds.sql): what no prefix names is a content failure when it failed
-- the row, and a transient one when it put the row back.
UPDATE email_queue
SET failure_kind = CASE
        WHEN error LIKE 'rejected:%' THEN 'rejected'
        WHEN error LIKE 'ambiguous:%' THEN 'ambiguous'
        WHEN error LIKE 'system:%' THEN 'system'
        WHEN error LIKE 'released:%' OR error LIKE 'recovered:%'
             OR error LIKE 'worker stopped while processing this row%' THEN 'interrupted'
        WHEN error LIKE 'gave up after %' THEN 'transient'
        WHEN error LIKE 'recipient % is on the suppression list' THEN 'suppressed'
        WHEN error LIKE 'to!_email %' ESCAPE '!' THEN 'invalid'
        WHEN error LIKE 'campaign % no longer exists' THEN 'campaign_gone'
        WHEN status = 'queued' THEN 'transient'
        ELSE 'content' END
WHERE failure_kind IS NULL AND error IS NOT NULL AND status <> 'sent';
