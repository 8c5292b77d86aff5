delete from email_queue where id = %(id)s
