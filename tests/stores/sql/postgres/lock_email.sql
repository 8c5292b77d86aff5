-- What a claim in flight holds: the row it is taking.
select id from email_queue where id = %(id)s::uuid for update
