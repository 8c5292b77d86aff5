update campaigns
set stage_requested_at = case when %(stage)s then now() end,
    launch_requested_at = case when %(launch)s then now() end
where id = %(id)s::uuid
