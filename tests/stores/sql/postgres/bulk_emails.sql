-- `count` rows of one campaign, generated in the server. Ids rise with n, so the
-- primary key grows at its right edge: a million rows load without page splits.
insert into email_queue (id, campaign_id, to_email, from_email, body, status, scheduled_for)
select ('00000000-0000-4000-8000-' || lpad(to_hex(%(first)s + n), 12, '0'))::uuid,
       %(campaign_id)s::uuid, 'r' || n || '@example.org', %(from_email)s, 'Body',
       %(status)s, %(scheduled_for)s::timestamptz
from generate_series(1, %(count)s) as n
