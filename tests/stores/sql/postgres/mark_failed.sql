update email_queue
set status = 'failed', error = %(error)s, failure_kind = %(failure_kind)s
where id = %(id)s::uuid
