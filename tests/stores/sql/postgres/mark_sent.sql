update email_queue
set status = 'sent', sent_at = %(sent_at)s::timestamptz, send_started_at = %(sent_at)s::timestamptz
where id = %(id)s::uuid
