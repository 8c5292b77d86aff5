UPDATE campaigns
SET ab_testing_enabled = :ab_testing_enabled, from_email = :from_email, send_days = :send_days,
    send_time_start = :send_time_start, send_time_end = :send_time_end, timezone = :timezone,
    daily_limit = :daily_limit
WHERE id = :id
