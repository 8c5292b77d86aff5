INSERT INTO email_queue (id, campaign_id, to_email, to_name, from_email, subject, body, status,
                         scheduled_for, metadata)
VALUES (:id, :campaign_id, :to_email, :to_name, :from_email, :subject, :body, :status,
        :scheduled_for, :metadata)
