UPDATE campaigns
SET stage_requested_at = CASE WHEN :stage THEN strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') END,
    launch_requested_at = CASE WHEN :launch THEN strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') END
WHERE id = :id
