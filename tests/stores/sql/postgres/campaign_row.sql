select * from campaigns where id = %(id)s::uuid
