SELECT * FROM campaign_sequences WHERE campaign_id = :campaign_id AND step_number = :step_number
