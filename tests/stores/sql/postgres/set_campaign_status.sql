update campaigns set status = %(status)s where id = %(id)s::uuid
