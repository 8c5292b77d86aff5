-- A row at any point of its life, as another worker or an older version left it.
insert into email_queue (id, campaign_id, to_email, from_email, subject, body, status,
                         scheduled_for, attempts, locked_by, locked_at, send_started_at,
                         sent_at, error, failure_kind, updated_at)
values (%(id)s::uuid, %(campaign_id)s::uuid, %(to_email)s, %(from_email)s, %(subject)s,
        %(body)s, %(status)s, %(scheduled_for)s::timestamptz, %(attempts)s, %(locked_by)s,
        %(locked_at)s::timestamptz, %(send_started_at)s::timestamptz,
        %(sent_at)s::timestamptz, %(error)s, %(failure_kind)s,
        %(updated_at)s::timestamptz)
