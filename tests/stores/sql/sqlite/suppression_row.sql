SELECT email, reason, source, created_at FROM suppressions WHERE email = :email
