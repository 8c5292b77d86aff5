insert into handouts (email_id, worker) select unnest(%(ids)s::uuid[]), %(worker)s
