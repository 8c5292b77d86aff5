UPDATE email_queue SET status = 'failed', error = :error, failure_kind = :failure_kind
WHERE id = :id
