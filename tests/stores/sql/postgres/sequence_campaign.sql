update campaigns
set ab_testing_enabled = %(ab_testing_enabled)s, from_email = %(from_email)s,
    send_days = %(send_days)s::text[], send_time_start = %(send_time_start)s::time,
    send_time_end = %(send_time_end)s::time, timezone = %(timezone)s,
    daily_limit = %(daily_limit)s
where id = %(id)s::uuid
