select * from campaign_sequences
where campaign_id = %(campaign_id)s::uuid and step_number = %(step_number)s
