-- The worker's tables and columns. Additive and idempotent, so it can be applied
-- to a Supabase project whose frontend already owns `campaigns` and `email_queue`
-- with columns of its own: a table is created with its key only, and every other
-- column is added "if not exists" (which also repairs an existing table).
-- `campaign-runner check` reads this file to name the migration behind a missing
-- table or column, so keep to `create table if not exists` / `add column if not exists`.

create table if not exists cr_schema_migrations (version int primary key);
alter table cr_schema_migrations
    add column if not exists name text,
    add column if not exists applied_at timestamptz not null default now();

create table if not exists campaigns (id uuid primary key default gen_random_uuid());
alter table campaigns
    add column if not exists name text not null default '',
    add column if not exists status text not null default 'draft',
    add column if not exists subject text,
    add column if not exists body_template text,
    add column if not exists ai_prompt text,
    add column if not exists from_name text,
    add column if not exists reply_to text,
    add column if not exists sent_count int not null default 0,
    add column if not exists failed_count int not null default 0,
    add column if not exists started_at timestamptz,
    add column if not exists completed_at timestamptz,
    add column if not exists created_at timestamptz not null default now(),
    add column if not exists updated_at timestamptz not null default now();

-- No foreign key to campaigns: a row whose campaign was deleted must still be
-- claimed, so that the pipeline can fail it with a reason.
create table if not exists email_queue (
    id uuid primary key default gen_random_uuid(),
    campaign_id uuid not null
);
alter table email_queue
    add column if not exists campaign_id uuid,
    add column if not exists to_email text,
    add column if not exists to_name text,
    add column if not exists from_email text,
    add column if not exists domain_index int,
    add column if not exists subject text,
    add column if not exists body text,
    add column if not exists status text not null default 'staged',
    add column if not exists scheduled_for timestamptz,
    add column if not exists metadata jsonb not null default '{}'::jsonb,
    add column if not exists attempts int not null default 0,
    add column if not exists locked_by text,
    add column if not exists locked_at timestamptz,
    add column if not exists send_started_at timestamptz,
    add column if not exists sent_at timestamptz,
    add column if not exists provider_message_id text,
    add column if not exists error text,
    add column if not exists generated_at timestamptz,
    add column if not exists generation_model text,
    add column if not exists prompt_tokens int,
    add column if not exists completion_tokens int,
    add column if not exists created_at timestamptz not null default now(),
    add column if not exists updated_at timestamptz not null default now();

-- Serves the claim: only queued rows are indexed, so the sent history costs nothing.
create index if not exists email_queue_due on email_queue (scheduled_for, id)
    where status = 'queued';
-- Serves stale recovery.
create index if not exists email_queue_processing on email_queue (locked_at)
    where status = 'processing';
-- Serves the roll-up and `status`.
create index if not exists email_queue_campaign_status on email_queue (campaign_id, status);

create table if not exists suppressions (email text primary key);  -- lower-cased
alter table suppressions
    add column if not exists reason text,
    add column if not exists source text,
    add column if not exists created_at timestamptz not null default now();

-- One row per sending domain: when it last sent, and how many it sent on `day_start`'s day.
create table if not exists domain_pacing (domain text primary key);
alter table domain_pacing
    add column if not exists last_claimed_at timestamptz not null default '-infinity',
    add column if not exists day_start timestamptz,
    add column if not exists day_count int not null default 0;

-- The worker's own tables are nobody else's business: with row level security on
-- and no policy, Supabase's anon and authenticated roles see nothing of them
-- (the service role and the table owner bypass it). The frontend's tables keep
-- whatever policies the frontend gave them.
alter table suppressions enable row level security;
alter table domain_pacing enable row level security;
alter table cr_schema_migrations enable row level security;

create or replace function cr_schema_version() returns int
language sql stable
set search_path = public, pg_temp
as $$ select coalesce(max(version), 0) from cr_schema_migrations $$;

insert into cr_schema_migrations (version, name) values (1, '0001_schema.sql')
on conflict (version) do nothing;
