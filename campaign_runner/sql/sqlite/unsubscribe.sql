-- The unsubscribe endpoint's two questions of the embedded store. The suppression
-- key is what the claim compares with: lower(trim(to_email)).

-- name: recipient_of
SELECT to_email FROM email_queue WHERE id = :id AND trim(coalesce(to_email, '')) <> '';

-- name: suppress_recipient_of
INSERT INTO suppressions (email, reason, source, created_at)
SELECT lower(trim(to_email)), :reason, :source, :now
  FROM email_queue
 WHERE id = :id AND trim(coalesce(to_email, '')) <> ''
    ON CONFLICT (email) DO NOTHING;
