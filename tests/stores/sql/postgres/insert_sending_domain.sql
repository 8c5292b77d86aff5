insert into sending_domains (domain_index, from_email, active)
values (%(domain_index)s, %(from_email)s, %(active)s)
