insert into suppressions (email, reason, source) values (%(email)s, 'unsubscribed', 'tests')
