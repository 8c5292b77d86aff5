-- A careless function that puts the request's headers (apikey, Authorization) into
-- its error: whatever a server sends back, the store's messages must not carry the key.
create function cr_campaign_status_v3(p_now timestamptz, p_min_interval_seconds int,
                                      p_daily_cap int, p_day_start timestamptz)
returns jsonb language plpgsql as $$
begin
    raise exception 'cannot count rows for %', current_setting('request.headers', true);
end
$$;
