insert into campaign_sequences (campaign_id, step_number, delay_days, delay_hours,
                                variant_a_subject, variant_a_body, variant_b_subject,
                                variant_b_body, variant_split, use_ai_generation,
                                ai_prompt_context)
values (%(campaign_id)s::uuid, %(step_number)s, %(delay_days)s, %(delay_hours)s,
        %(variant_a_subject)s, %(variant_a_body)s, %(variant_b_subject)s, %(variant_b_body)s,
        %(variant_split)s, %(use_ai_generation)s, %(ai_prompt_context)s)
