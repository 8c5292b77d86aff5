INSERT INTO suppressions (email, reason, source) VALUES (:email, 'unsubscribed', 'tests')
