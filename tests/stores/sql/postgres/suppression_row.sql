select email, reason, source, created_at from suppressions where email = %(email)s
