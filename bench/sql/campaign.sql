-- One campaign, as the frontend would leave it.
insert into campaigns (id, name, status, subject, body_template, ai_prompt, from_name, reply_to)
values (%(id)s::uuid, %(name)s, %(status)s, %(subject)s, %(body_template)s, %(ai_prompt)s,
        %(from_name)s, %(reply_to)s)
