insert into suppressions (email, reason, source) values (%(email)s, 'hard', %(source)s)
