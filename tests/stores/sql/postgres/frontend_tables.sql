-- A frontend's own tables before the worker arrives: some of the worker's columns,
-- columns of its own, and rows.
create table campaigns (
    id uuid primary key,
    name text not null,
    status text not null,
    owner_id uuid not null,
    body_template text
);
create table email_queue (
    id uuid primary key,
    campaign_id uuid not null references campaigns (id),
    to_email text,
    from_email text,
    status text not null,
    scheduled_for timestamptz,
    opened_at timestamptz
);
insert into campaigns values
    ('00000000-0000-4000-8000-00000000000c', 'Spring', 'scheduled',
     '00000000-0000-4000-8000-0000000000aa', 'Hi there');
insert into email_queue values
    ('00000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-00000000000c',
     'ann@example.org', 'news@acme.test', 'queued', '2026-11-23T16:00:00Z', null);
