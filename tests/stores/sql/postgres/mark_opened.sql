update email_queue
set delivered_at = %(at)s::timestamptz, opened_at = %(at)s::timestamptz,
    clicked_at = %(at)s::timestamptz
where id = %(id)s::uuid
