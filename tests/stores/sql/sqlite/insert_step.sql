INSERT INTO campaign_sequences (campaign_id, step_number, delay_days, delay_hours,
                                variant_a_subject, variant_a_body, variant_b_subject,
                                variant_b_body, variant_split, use_ai_generation,
                                ai_prompt_context)
VALUES (:campaign_id, :step_number, :delay_days, :delay_hours, :variant_a_subject,
        :variant_a_body, :variant_b_subject, :variant_b_body, :variant_split,
        :use_ai_generation, :ai_prompt_context)
