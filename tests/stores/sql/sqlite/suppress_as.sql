INSERT INTO suppressions (email, reason, source) VALUES (:email, 'hard', :source)
