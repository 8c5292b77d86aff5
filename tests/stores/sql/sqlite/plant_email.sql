-- A row at any point of its life, as another worker or an older version left it.
INSERT INTO email_queue (id, campaign_id, to_email, from_email, subject, body, status,
                         scheduled_for, attempts, locked_by, locked_at, send_started_at,
                         sent_at, error, failure_kind, updated_at)
VALUES (:id, :campaign_id, :to_email, :from_email, :subject, :body, :status,
        :scheduled_for, :attempts, :locked_by, :locked_at, :send_started_at,
        :sent_at, :error, :failure_kind, :updated_at)
