-- The unsubscribe endpoint's two questions (HTTP_LISTEN, /u/<token>): whose is a row,
-- and suppress that recipient. Additive and idempotent: two new functions, nothing
-- of the earlier migrations changed, so workers of the previous version keep working.
-- The suppression key is the one the claim compares with: lower(trim(to_email)).

-- The address of row p_id as written; null when there is no such row (deleted since
-- the mail went out) or it has no address.
create or replace function cr_recipient_of(p_id uuid) returns text
language sql stable
set search_path = public, pg_temp
as $$
    select to_email from email_queue
    where id = p_id and trim(coalesce(to_email, '')) <> ''
$$;

-- Suppress the recipient of row p_id; false when there is no such row. A repeated
-- unsubscribe keeps the first entry: its reason, source and time stand.
create or replace function cr_suppress_recipient_of(
    p_id uuid,
    p_reason text,
    p_source text,
    p_now timestamptz
) returns boolean
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_email text;
begin
    select lower(trim(to_email)) into v_email from email_queue
    where id = p_id and trim(coalesce(to_email, '')) <> '';
    if v_email is null then
        return false;
    end if;
    insert into suppressions (email, reason, source, created_at)
    values (v_email, p_reason, p_source, p_now)
    on conflict (email) do nothing;
    return true;
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (7, '0007_unsubscribe.sql')
on conflict (version) do nothing;
