-- Putting work in without a frontend (issue 18): campaigns from a file, contacts from
-- a CSV, stage, launch, sending addresses, and what happened to every row. Additive
-- and idempotent like 0001-0007; nothing a worker of the previous version calls
-- changes. Each function below is one transaction, so a crash halfway through any of
-- them leaves nothing half done, and each is safe to run twice.

-- One row per sending address: the launch step gives rows these, round-robin over
-- the active ones in domain_index order. Pacing is keyed on the address's domain.
create table if not exists sending_domains (id uuid primary key default gen_random_uuid());
alter table sending_domains
    add column if not exists domain_index int,
    add column if not exists from_email text,
    add column if not exists from_name text,
    add column if not exists active boolean not null default true,
    add column if not exists created_at timestamptz not null default now(),
    add column if not exists updated_at timestamptz not null default now();
create unique index if not exists sending_domains_domain_index on sending_domains (domain_index);
create unique index if not exists sending_domains_from_email on sending_domains (lower(from_email));

-- Contacts imported for one campaign (`campaign-runner import`), until `stage` turns
-- them into rows: `email` normalised, the CSV's other columns in `metadata`.
create table if not exists imported_contacts (
    id uuid primary key default gen_random_uuid(),
    campaign_id uuid not null
);
alter table imported_contacts
    add column if not exists campaign_id uuid,
    add column if not exists email text,
    add column if not exists to_name text,
    add column if not exists metadata jsonb not null default '{}'::jsonb,
    add column if not exists created_at timestamptz not null default now();
create unique index if not exists imported_contacts_campaign_email
    on imported_contacts (campaign_id, lower(email));

-- `key`: the campaign file's name for it (null for campaigns a frontend made).
-- `stage_requested_at` / `launch_requested_at`: set by a frontend, done and cleared by
-- the worker's next cycle; `request_error` says why the last request was refused.
-- The schedule: null parts mean the worker's TIMEZONE / WORK_* settings; days are
-- lower-case three-letter names, hours `time` values, `daily_limit` rows per local day.
alter table campaigns
    add column if not exists key text,
    add column if not exists stage_requested_at timestamptz,
    add column if not exists launch_requested_at timestamptz,
    add column if not exists request_error text,
    add column if not exists send_days text[],
    add column if not exists send_time_start time,
    add column if not exists send_time_end time,
    add column if not exists timezone text,
    add column if not exists daily_limit int;
create unique index if not exists campaigns_key on campaigns (key);
-- Serves the worker's look for requests: almost always empty.
create index if not exists campaigns_requested on campaigns (id)
    where stage_requested_at is not null or launch_requested_at is not null;
-- Serves `import` and `stage`: a campaign's rows by recipient.
create index if not exists email_queue_campaign_recipient
    on email_queue (campaign_id, lower(trim(to_email)));

alter table sending_domains enable row level security;
alter table imported_contacts enable row level security;

-- A campaign by its file key or its id, as the commands name it; null when none.
create or replace function cr_find_campaign(p_ref text) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select to_jsonb(c) - 'body_template' - 'ai_prompt' - 'subject'
    from campaigns c
    where c.key = p_ref
       or (p_ref ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
           and c.id = p_ref::uuid)
    order by c.key is null  -- a key wins over an id that happens to spell it
    limit 1
$$;

-- Create or update the campaign of a file. p_fields holds the file's columns (a null
-- clears one); once the campaign has left draft and staged, the columns named in
-- p_frozen may not change: then nothing is written and `refused` names them.
create or replace function cr_apply_campaign(
    p_key text,
    p_fields jsonb,
    p_frozen text[],
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_columns constant text[] := array['name', 'subject', 'body_template', 'ai_prompt',
        'from_name', 'reply_to', 'send_days', 'send_time_start', 'send_time_end',
        'timezone', 'daily_limit'];
    v_created boolean := false;
    v_old campaigns;
    v_new campaigns;
    v_changed text[];
    v_refused text[];
begin
    if exists (select 1 from jsonb_object_keys(p_fields) k where k <> all (v_columns)) then
        raise exception 'cr_apply_campaign: p_fields may only hold %', v_columns;
    end if;
    insert into campaigns (key, name, status, created_at, updated_at)
    values (p_key, coalesce(p_fields ->> 'name', ''), 'draft', p_now, p_now)
    on conflict (key) do nothing
    returning true into v_created;
    select * into v_old from campaigns where key = p_key for update;
    v_new := jsonb_populate_record(v_old, p_fields);
    select coalesce(array_agg(k order by k), '{}') into v_changed
    from jsonb_object_keys(p_fields) k
    where to_jsonb(v_old) -> k is distinct from to_jsonb(v_new) -> k;
    v_refused := array(select k from unnest(v_changed) k where k = any (p_frozen) order by k);
    if v_old.status not in ('draft', 'staged') and cardinality(v_refused) > 0 then
        return jsonb_build_object('id', v_old.id, 'status', v_old.status, 'created', false,
                                  'changed', to_jsonb(v_changed), 'refused', to_jsonb(v_refused));
    end if;
    if cardinality(v_changed) > 0 then
        update campaigns
        set name = v_new.name, subject = v_new.subject, body_template = v_new.body_template,
            ai_prompt = v_new.ai_prompt, from_name = v_new.from_name,
            reply_to = v_new.reply_to, send_days = v_new.send_days,
            send_time_start = v_new.send_time_start, send_time_end = v_new.send_time_end,
            timezone = v_new.timezone, daily_limit = v_new.daily_limit, updated_at = p_now
        where id = v_old.id;
    end if;
    return jsonb_build_object('id', v_old.id, 'status', v_old.status,
                              'created', coalesce(v_created, false),
                              'changed', to_jsonb(v_changed), 'refused', '[]'::jsonb);
end
$$;

-- Contacts into a campaign, all or none: p_contacts is [{email, to_name, metadata}],
-- already checked and without duplicates among themselves, created one microsecond
-- apart so that they keep the file's order. An address the campaign
-- already has (imported, or a row) or that is suppressed is skipped and counted.
create or replace function cr_import_contacts(
    p_campaign_id uuid,
    p_contacts jsonb,
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_status text;
    v_result jsonb;
begin
    -- Locked, so that a stage of this campaign waits for the import to end.
    select status into v_status from campaigns where id = p_campaign_id for update;
    if not found then
        return jsonb_build_object('error', 'no such campaign');
    end if;
    if v_status in ('completed', 'cancelled') then
        return jsonb_build_object('error', 'the campaign is ' || v_status
                                  || ': contacts added now would never be sent');
    end if;
    with incoming as (
        select e.c ->> 'email' as email, e.c ->> 'to_name' as to_name,
               coalesce(e.c -> 'metadata', '{}'::jsonb) as metadata, e.n
        from jsonb_array_elements(p_contacts) with ordinality as e(c, n)
    ),
    present as (
        select lower(email) as address from imported_contacts where campaign_id = p_campaign_id
        union
        select lower(trim(to_email)) from email_queue where campaign_id = p_campaign_id
    ),
    judged as (
        select i.*, p.address is not null as in_campaign,
               exists (select 1 from suppressions s where s.email = lower(i.email)) as suppressed
        from incoming i
        left join present p on p.address = lower(i.email)
    ),
    inserted as (
        insert into imported_contacts (campaign_id, email, to_name, metadata, created_at)
        select p_campaign_id, email, to_name, metadata, p_now + n * interval '1 microsecond'
        from judged
        where not in_campaign and not suppressed
        on conflict do nothing
        returning 1
    )
    select jsonb_build_object(
               'imported', (select count(*) from inserted),
               'in_campaign', count(*) filter (where in_campaign),
               'suppressed', count(*) filter (where suppressed and not in_campaign))
    into v_result
    from judged;
    return v_result;
end
$$;

-- Whether a frontend's recipient tables are there, with the columns stage reads:
-- campaign_recipients (campaign_id, contact_id) and contacts (id, email).
create or replace function cr_frontend_recipients_present() returns boolean
language sql stable
set search_path = public, pg_temp
as $$
    select count(*) = 4
    from information_schema.columns
    where table_schema = 'public'
      and ((table_name = 'campaign_recipients' and column_name in ('campaign_id', 'contact_id'))
           or (table_name = 'contacts' and column_name in ('id', 'email')))
$$;

-- The campaign's recipients become `staged` rows (empty body: content is written just
-- in time; the contact's fields in metadata), one per address the campaign has no row
-- for yet, none for a suppressed address; a draft campaign becomes `staged`. Recipients
-- are its imported contacts and, where a frontend keeps them, its campaign_recipients'
-- contacts: every column of the contact but its id, email and bookkeeping is a field
-- (a jsonb `metadata` or `custom_fields` column is merged in), and `to_name` is its
-- `name`, or `first_name` and `last_name`. Rows are created one microsecond apart, in
-- the order the contacts were imported, so that launch sends them in that order.
create or replace function cr_stage_campaign(p_campaign_id uuid, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_status text;
    v_staged int;
    v_suppressed int;
    v_more int;
    v_more_suppressed int;
begin
    select status into v_status from campaigns where id = p_campaign_id for update;
    if not found then
        return jsonb_build_object('error', 'no such campaign');
    end if;
    if v_status in ('completed', 'cancelled') then
        return jsonb_build_object('error', 'the campaign is ' || v_status
                                  || ': nothing more is staged');
    end if;
    with source as (
        select distinct on (lower(email)) email, to_name, metadata, created_at, id
        from imported_contacts
        where campaign_id = p_campaign_id and coalesce(email, '') <> ''
        order by lower(email), created_at, id
    ),
    judged as (
        select s.*,
               exists (select 1 from suppressions x where x.email = lower(s.email)) as suppressed,
               exists (select 1 from email_queue q
                       where q.campaign_id = p_campaign_id
                         and lower(trim(q.to_email)) = lower(s.email)) as present
        from source s
    ),
    inserted as (
        insert into email_queue (campaign_id, to_email, to_name, metadata, status,
                                 created_at, updated_at)
        select p_campaign_id, email, to_name, metadata, 'staged',
               p_now + row_number() over (order by created_at, id) * interval '1 microsecond',
               p_now
        from judged
        where not suppressed and not present
        returning 1
    )
    select (select count(*) from inserted), count(*) filter (where suppressed and not present)
    into v_staged, v_suppressed
    from judged;
    if cr_frontend_recipients_present() then
        execute $q$
            with contact as (
                select r.contact_id, to_jsonb(ct) as j
                from campaign_recipients r
                join contacts ct on ct.id = r.contact_id
                where r.campaign_id = $1
            ),
            source as (
                select distinct on (lower(trim(j ->> 'email')))
                       trim(j ->> 'email') as email, contact_id,
                       coalesce(nullif(trim(j ->> 'name'), ''),
                                nullif(trim(concat_ws(' ', j ->> 'first_name',
                                                      j ->> 'last_name')), '')) as to_name,
                       jsonb_strip_nulls(
                           (case when jsonb_typeof(j -> 'custom_fields') = 'object'
                                 then j -> 'custom_fields' else '{}'::jsonb end)
                           || (case when jsonb_typeof(j -> 'metadata') = 'object'
                                    then j -> 'metadata' else '{}'::jsonb end)
                           || (j - 'id' - 'email' - 'metadata' - 'custom_fields'
                                 - 'user_id' - 'created_at' - 'updated_at')) as metadata
                from contact
                where coalesce(trim(j ->> 'email'), '') <> ''
                order by lower(trim(j ->> 'email')), contact_id
            ),
            judged as (
                select s.*,
                       exists (select 1 from suppressions x
                               where x.email = lower(s.email)) as suppressed,
                       exists (select 1 from email_queue q
                               where q.campaign_id = $1
                                 and lower(trim(q.to_email)) = lower(s.email)) as present
                from source s
            ),
            inserted as (
                insert into email_queue (campaign_id, to_email, to_name, metadata, status,
                                         created_at, updated_at)
                select $1, email, to_name, metadata, 'staged',
                       $2 + ($3 + row_number() over (order by contact_id))
                            * interval '1 microsecond',
                       $2
                from judged
                where not suppressed and not present
                returning 1
            )
            select (select count(*) from inserted),
                   count(*) filter (where suppressed and not present)
            from judged
        $q$ into v_more, v_more_suppressed using p_campaign_id, p_now, v_staged;
        v_staged := v_staged + v_more;
        v_suppressed := v_suppressed + v_more_suppressed;
    end if;
    update campaigns
    set status = case when status = 'draft' then 'staged' else status end,
        stage_requested_at = null, request_error = null, updated_at = p_now
    where id = p_campaign_id
    returning status into v_status;
    return jsonb_build_object('staged', v_staged, 'suppressed', v_suppressed,
                              'status', v_status);
end
$$;

-- What a launch checks before it writes: the staged rows, the active addresses, and
-- the latest queued time of each of their domains. A launch computed on one token is
-- written only while the token is still the same.
create or replace function cr_launch_token(p_campaign_id uuid) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'staged', (select count(*) from email_queue
                   where campaign_id = p_campaign_id and status = 'staged'),
        'addresses', (select coalesce(jsonb_agg(jsonb_build_object(
                                 'domain_index', d.domain_index, 'from_email', d.from_email,
                                 'from_name', d.from_name) order by d.domain_index), '[]')
                      from sending_domains d where d.active and d.domain_index is not null
                        and coalesce(d.from_email, '') <> ''),
        'queued_until', (select coalesce(jsonb_object_agg(t.domain, t.latest), '{}')
                         from (select cr_sending_domain(q.from_email) as domain,
                                      max(q.scheduled_for) as latest
                               from email_queue q
                               where q.status in ('queued', 'processing')
                                 and cr_sending_domain(q.from_email) in (
                                     select cr_sending_domain(from_email)
                                     from sending_domains where active)
                               group by 1) t))
$$;

-- Everything a launch plan is computed from (campaign_runner/intake/launch.py): the
-- campaign's status and schedule, the token, the staged row ids in the order they
-- were staged, each domain's tail (its latest queued time or last claim), and the
-- times of the campaign's rows already scheduled in the last day (for daily_limit).
create or replace function cr_launch_basis(p_campaign_id uuid, p_now timestamptz)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with token as (select cr_launch_token(p_campaign_id) as t),
    claimed as (
        select p.domain, p.last_claimed_at
        from domain_pacing p
        where p.domain in (select cr_sending_domain(from_email) from sending_domains where active)
          and p.last_claimed_at > '-infinity'
    ),
    tails as (
        select domain, max(latest) as latest
        from (select key as domain, (value #>> '{}')::timestamptz as latest
              from token, jsonb_each(t -> 'queued_until')
              union all
              select domain, last_claimed_at from claimed) both_kinds
        group by domain
    )
    select jsonb_build_object(
        'campaign_id', c.id, 'campaign_status', c.status, 'send_days', to_jsonb(c.send_days),
        'send_time_start', c.send_time_start, 'send_time_end', c.send_time_end,
        'timezone', c.timezone, 'daily_limit', c.daily_limit,
        'token', (select t from token),
        'addresses', (select t -> 'addresses' from token),
        'staged', (select coalesce(jsonb_agg(q.id order by q.created_at, q.id), '[]')
                   from email_queue q
                   where q.campaign_id = c.id and q.status = 'staged'),
        'tails', (select coalesce(jsonb_object_agg(domain, latest), '{}') from tails),
        'taken', case when c.daily_limit is null then '[]'::jsonb else
                 (select coalesce(jsonb_agg(coalesce(q.sent_at, q.scheduled_for)), '[]')
                  from email_queue q
                  where q.campaign_id = c.id and q.status in ('queued', 'processing', 'sent')
                    and coalesce(q.sent_at, q.scheduled_for) >= p_now - interval '2 days') end)
    from campaigns c
    where c.id = p_campaign_id
$$;

-- Write a launch plan: each planned row `staged -> queued` with its address and time,
-- and a draft or staged campaign `scheduled`, in one transaction, or nothing at all
-- when the basis changed since the plan was made (`stale`: plan again). Launches are
-- written one at a time, so two never space their rows off the same tail.
create or replace function cr_launch_campaign(
    p_campaign_id uuid,
    p_token jsonb,
    p_plan jsonb,
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_status text;
    v_queued int;
begin
    perform pg_advisory_xact_lock(hashtext('cr_launch_campaign'));
    select status into v_status from campaigns where id = p_campaign_id for update;
    if not found then
        return jsonb_build_object('error', 'no such campaign');
    end if;
    if cr_launch_token(p_campaign_id) is distinct from p_token
       or jsonb_array_length(p_plan) <> (p_token ->> 'staged')::int then
        return jsonb_build_object('stale', true);
    end if;
    update email_queue q
    set status = 'queued', from_email = p.from_email, domain_index = p.domain_index,
        scheduled_for = p.scheduled_for, updated_at = p_now
    from jsonb_to_recordset(p_plan)
         as p(id uuid, domain_index int, from_email text, scheduled_for timestamptz)
    where q.id = p.id and q.campaign_id = p_campaign_id and q.status = 'staged';
    get diagnostics v_queued = row_count;
    update campaigns
    set status = case when status in ('draft', 'staged') then 'scheduled' else status end,
        launch_requested_at = null, request_error = null, updated_at = p_now
    where id = p_campaign_id
    returning status into v_status;
    return jsonb_build_object('queued', v_queued, 'status', v_status);
end
$$;

-- The sending addresses, active or not, in domain_index order.
create or replace function cr_sending_domains() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'domain_index', domain_index, 'from_email', from_email,
               'from_name', from_name, 'active', active) order by domain_index), '[]')
    from sending_domains
$$;

-- Add a sending address (the next domain_index), or make a known one active again
-- with the name given; returns it.
create or replace function cr_add_sending_domain(
    p_from_email text,
    p_from_name text,
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_row sending_domains;
begin
    perform pg_advisory_xact_lock(hashtext('cr_add_sending_domain'));
    update sending_domains
    set active = true, from_name = coalesce(p_from_name, from_name), updated_at = p_now
    where lower(from_email) = lower(p_from_email)
    returning * into v_row;
    if not found then
        insert into sending_domains (domain_index, from_email, from_name, active, created_at,
                                     updated_at)
        values ((select coalesce(max(domain_index) + 1, 0) from sending_domains),
                p_from_email, p_from_name, true, p_now, p_now)
        returning * into v_row;
    end if;
    return jsonb_build_object('domain_index', v_row.domain_index,
                              'from_email', v_row.from_email,
                              'from_name', v_row.from_name, 'active', v_row.active);
end
$$;

-- Turn a sending address (by address or domain_index) on or off; null when none.
-- Rows it already has keep it: only later launches skip it.
create or replace function cr_set_sending_domain_active(
    p_which text,
    p_active boolean,
    p_now timestamptz
) returns jsonb
language sql
set search_path = public, pg_temp
as $$
    update sending_domains
    set active = p_active, updated_at = p_now
    where lower(from_email) = lower(p_which) or domain_index::text = p_which
    returning jsonb_build_object('domain_index', domain_index, 'from_email', from_email,
                                 'from_name', from_name, 'active', active)
$$;

-- Campaigns a frontend asked the worker to stage or launch, oldest request first.
create or replace function cr_requested_work() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', id, 'stage', stage_requested_at is not null,
               'launch', launch_requested_at is not null)
           order by least(stage_requested_at, launch_requested_at), id), '[]')
    from campaigns
    where stage_requested_at is not null or launch_requested_at is not null
$$;

-- A request the worker could not do: cleared (asking again is the frontend's call),
-- with the reason kept for it in request_error.
create or replace function cr_refuse_request(
    p_campaign_id uuid,
    p_error text,
    p_now timestamptz
) returns boolean
language sql
set search_path = public, pg_temp
as $$
    update campaigns
    set stage_requested_at = null, launch_requested_at = null, request_error = p_error,
        updated_at = p_now
    where id = p_campaign_id
    returning true
$$;

-- One page of a campaign's rows for `campaign-runner rows`, in sending order
-- (scheduled_for, then id; rows not yet scheduled last), after the row p_after_id
-- (null: from the start), optionally of one status. Every column but the content,
-- so that facts later migrations add (failure_kind, delivered_at, ...) come along.
create or replace function cr_campaign_rows(
    p_campaign_id uuid,
    p_status text,
    p_after_id uuid,
    p_limit int
) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with after as (
        select coalesce(scheduled_for, 'infinity') as at, id
        from email_queue where id = p_after_id
    )
    select coalesce(jsonb_agg(to_jsonb(page) - 'body' - 'metadata' - 'sort_at'
                              order by page.sort_at, page.id), '[]')
    from (select q.*, coalesce(q.scheduled_for, 'infinity') as sort_at
          from email_queue q
          where q.campaign_id = p_campaign_id
            and (p_status is null or q.status = p_status)
            and (p_after_id is null
                 or (coalesce(q.scheduled_for, 'infinity'), q.id)
                    > (select at, id from after))
          order by coalesce(q.scheduled_for, 'infinity'), q.id
          limit p_limit) page
$$;

-- What `test-send` renders: the row asked for (or the campaign's first row, or else
-- its first imported contact as a row that has no id yet), as a claim returns rows,
-- whether the test address is suppressed, and the first active sending address for a
-- row that has none yet. Reads only.
create or replace function cr_test_send_row(
    p_campaign_id uuid,
    p_row_id uuid,
    p_address text
) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with picked as (
        select q.id from email_queue q
        where q.campaign_id = p_campaign_id and (p_row_id is null or q.id = p_row_id)
        order by q.created_at, q.id
        limit 1
    ),
    contact as (
        select jsonb_build_object(
                   'id', '00000000-0000-0000-0000-000000000000', 'campaign_id', c.id,
                   'to_email', i.email, 'to_name', i.to_name, 'from_email', null,
                   'subject', null, 'body', null, 'metadata', i.metadata, 'attempts', 0,
                   'scheduled_for', null, 'c_id', c.id, 'c_name', c.name,
                   'c_status', c.status, 'c_subject', c.subject,
                   'c_body_template', c.body_template, 'c_ai_prompt', c.ai_prompt,
                   'c_from_name', c.from_name, 'c_reply_to', c.reply_to,
                   'suppressed', false) as row
        from imported_contacts i
        join campaigns c on c.id = i.campaign_id
        where i.campaign_id = p_campaign_id and p_row_id is null
        order by i.created_at, i.id
        limit 1
    )
    select jsonb_build_object(
        'row', coalesce(cr_rows_json(array(select id from picked)) -> 0,
                        (select row from contact)),
        'address_suppressed', exists (select 1 from suppressions
                                      where email = lower(trim(p_address))),
        'first_address', (select jsonb_build_object('from_email', from_email,
                                                    'from_name', from_name)
                          from sending_domains where active
                          order by domain_index limit 1))
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (8, '0008_put_work_in.sql')
on conflict (version) do nothing;
