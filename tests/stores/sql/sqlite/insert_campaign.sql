INSERT INTO campaigns (id, name, status, subject, body_template, ai_prompt, from_name, reply_to)
VALUES (:id, :name, :status, :subject, :body_template, :ai_prompt, :from_name, :reply_to)
