-- The unsubscribe endpoint's two questions, as plain SQL on existing tables (no
-- function, so no migration): each returns one row of one value, as the store's
-- calls do. The suppression key is what the claim compares with: lower(trim(to_email)).
-- A repeated unsubscribe keeps the first entry: its reason, source and time stand.

-- name: recipient_of
select (select to_email from email_queue
         where id = %(id)s::uuid and trim(coalesce(to_email, '')) <> '');

-- name: suppress_recipient_of
with target as (
    select lower(trim(to_email)) as email from email_queue
     where id = %(id)s::uuid and trim(coalesce(to_email, '')) <> ''
), added as (
    insert into suppressions (email, reason, source, created_at)
    select email, %(reason)s::text, %(source)s::text, %(now)s::timestamptz from target
    on conflict (email) do nothing
)
select exists (select 1 from target);
