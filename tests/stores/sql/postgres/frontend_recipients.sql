-- A frontend's contacts and its campaigns' recipients table, as stage reads them.
create table contacts (
    id uuid primary key,
    user_id uuid,
    email text not null,
    first_name text,
    last_name text,
    company text,
    custom_fields jsonb,
    created_at timestamptz not null default now()
);
create table campaign_recipients (
    campaign_id uuid not null,
    contact_id uuid not null references contacts (id),
    primary key (campaign_id, contact_id)
);
insert into contacts (id, user_id, email, first_name, last_name, company, custom_fields) values
    ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa',
     'ana@example.org', 'Ana', 'Ruiz', 'Ruiz & Co', '{"city": "Lisbon"}'),
    ('00000000-0000-4000-8000-000000000002', null, 'ben@example.net', 'Ben', null, null, null),
    ('00000000-0000-4000-8000-000000000003', null, 'imported@example.com', 'Dup', null, null,
     null);
