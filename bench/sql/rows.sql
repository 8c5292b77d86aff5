-- `count` rows of one campaign built by the server (a million in seconds), numbered
-- from `first`, all `status` and due at `due` (a sent row was sent then), with no
-- body, and sending addresses spread over `domains` sending domains.
insert into email_queue (campaign_id, to_email, to_name, from_email, domain_index, status,
                         scheduled_for, sent_at, attempts, metadata)
select %(campaign)s::uuid,
       'contact' || i || '@example.org',
       'Contact ' || i,
       'sam@send' || i %% %(domains)s::int || '.ledgerly.example.com',
       i %% %(domains)s::int,
       %(status)s::text,
       %(due)s::timestamptz,
       case when %(status)s::text = 'sent' then %(due)s::timestamptz end,
       case when %(status)s::text = 'sent' then 1 else 0 end,
       jsonb_build_object('first_name', 'Contact' || i, 'company', 'Company ' || i)
from generate_series(%(first)s::int, %(first)s::int + %(count)s::int - 1) as i
