insert into email_queue (id, campaign_id, to_email, to_name, from_email, subject, body, status,
                         scheduled_for, metadata)
values (%(id)s::uuid, %(campaign_id)s::uuid, %(to_email)s, %(to_name)s, %(from_email)s,
        %(subject)s, %(body)s, %(status)s, %(scheduled_for)s::timestamptz, %(metadata)s::jsonb)
