INSERT INTO campaign_leads (id, campaign_id, to_email, to_name, metadata, from_email, status,
                            created_at)
VALUES (:id, :campaign_id, :to_email, :to_name, :metadata, :from_email, :status, :created_at)
