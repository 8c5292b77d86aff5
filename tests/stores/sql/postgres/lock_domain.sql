-- What a paced claim in flight holds: its sending domain's pacing row.
select domain from domain_pacing where domain = %(domain)s for update
