UPDATE email_queue SET status = 'sent', sent_at = :sent_at, send_started_at = :sent_at
WHERE id = :id
