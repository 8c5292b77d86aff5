-- What a worker of the version before 0003 calls, and still may after it.
select cr_status() as status, pg_typeof(cr_roll_up(now()))::text as roll_up
