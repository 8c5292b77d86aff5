-- A careless function that puts the request's headers (apikey, Authorization) into
-- its error: whatever a server sends back, the store's messages must not carry the key.
create function cr_campaign_status(p_now timestamptz) returns jsonb language plpgsql as $$
begin
    raise exception 'cannot count rows for %', current_setting('request.headers', true);
end
$$;
