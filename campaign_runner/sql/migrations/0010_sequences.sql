-- Sequences (issue 17): multi-step follow-ups with A/B variants, per-campaign
-- schedules, and a stop on reply. Additive and idempotent like 0001-0009; nothing a
-- worker of the previous version calls changes its signature or its meaning.
--
-- A lead walks a campaign's steps: the dispatcher (campaign_runner/sequences) puts one
-- email_queue row per lead and step, the normal claim and pipeline send it, and
-- cr_sequence_progress moves the lead on once the row is sent. A reply, a bounce or
-- an unsubscribe stops the lead, and in the same transaction every row of it that has
-- not started sending is failed as `stopped`, so no claim can send it afterwards.

-- `ab_testing_enabled`: leads are split between variants A and B by each step's
-- variant_split (off: everyone gets A). `from_email`: the sending address of a lead
-- that has none when no sending address is active.
alter table campaigns
    add column if not exists ab_testing_enabled boolean not null default false,
    add column if not exists from_email text;

-- One row per step of a campaign, numbered 1, 2, 3 ... Delays count from the send of
-- the step before (step 1's from the lead's creation). variant_split: the percentage
-- of leads that get variant A. A variant B without a body sends A's text. The counters
-- are recounted by cr_sequence_progress, per variant.
create table if not exists campaign_sequences (
    id uuid primary key default gen_random_uuid(),
    campaign_id uuid not null,
    step_number int not null
);
alter table campaign_sequences
    add column if not exists campaign_id uuid,
    add column if not exists step_number int,
    add column if not exists delay_days int not null default 0,
    add column if not exists delay_hours int not null default 0,
    add column if not exists variant_a_subject text,
    add column if not exists variant_a_body text,
    add column if not exists variant_b_subject text,
    add column if not exists variant_b_body text,
    add column if not exists variant_split int not null default 50,
    add column if not exists use_ai_generation boolean not null default false,
    add column if not exists ai_prompt_context text,
    add column if not exists variant_a_sent int not null default 0,
    add column if not exists variant_b_sent int not null default 0,
    add column if not exists variant_a_delivered int not null default 0,
    add column if not exists variant_b_delivered int not null default 0,
    add column if not exists variant_a_opened int not null default 0,
    add column if not exists variant_b_opened int not null default 0,
    add column if not exists variant_a_clicked int not null default 0,
    add column if not exists variant_b_clicked int not null default 0,
    add column if not exists variant_a_replied int not null default 0,
    add column if not exists variant_b_replied int not null default 0,
    add column if not exists variant_a_bounced int not null default 0,
    add column if not exists variant_b_bounced int not null default 0,
    add column if not exists created_at timestamptz not null default now(),
    add column if not exists updated_at timestamptz not null default now();
create unique index if not exists campaign_sequences_step
    on campaign_sequences (campaign_id, step_number);

-- One row per recipient of a sequence campaign. current_step: the last step sent (0:
-- none yet). status: active, paused, completed, replied, bounced, unsubscribed.
-- assigned_variant ('A' or 'B') and from_email are fixed at the first send: a thread
-- never changes variant or sender. next_email_at: when the next step is due (null:
-- at once). error: why the lead stopped or waits; stopped_step: the step a reply or
-- bounce is counted on. reply_token: the lead's part of a `replies+<token>@domain`
-- reply address.
create table if not exists campaign_leads (
    id uuid primary key default gen_random_uuid(),
    campaign_id uuid not null
);
alter table campaign_leads
    add column if not exists campaign_id uuid,
    add column if not exists contact_id uuid,
    add column if not exists to_email text,
    add column if not exists to_name text,
    add column if not exists metadata jsonb not null default '{}'::jsonb,
    add column if not exists from_email text,
    add column if not exists domain_index int,
    add column if not exists current_step int not null default 0,
    add column if not exists status text not null default 'active',
    add column if not exists assigned_variant text,
    add column if not exists last_email_at timestamptz,
    add column if not exists next_email_at timestamptz,
    add column if not exists replied_at timestamptz,
    add column if not exists stopped_step int,
    add column if not exists error text,
    add column if not exists reply_token text not null
        default replace(gen_random_uuid()::text, '-', ''),
    add column if not exists created_at timestamptz not null default now(),
    add column if not exists updated_at timestamptz not null default now();
-- What the dispatcher reads: a campaign's active leads in the order they fall due.
create index if not exists campaign_leads_due
    on campaign_leads (campaign_id, (coalesce(next_email_at, created_at)), id)
    where status = 'active';
create unique index if not exists campaign_leads_reply_token on campaign_leads (reply_token);
create index if not exists campaign_leads_recipient on campaign_leads (lower(trim(to_email)));

-- A row of a lead: which lead, step and variant, and our own Message-ID with the
-- earlier steps' (references_header) so the follow-up lands in the same thread. At
-- most one row per lead and step, whoever dispatches and however often.
alter table email_queue
    add column if not exists lead_id uuid,
    add column if not exists step_number int,
    add column if not exists variant text,
    add column if not exists message_id_header text,
    add column if not exists references_header text;
create unique index if not exists email_queue_lead_step
    on email_queue (lead_id, step_number) where lead_id is not null;
create index if not exists email_queue_message_id_header
    on email_queue (message_id_header) where message_id_header is not null;

-- `stopped`: the row's lead stopped (replied, bounced, unsubscribed) before it was sent.
do $$
begin
    if not exists (select 1 from pg_constraint
                   where conname = 'email_queue_failure_kind_known'
                     and conrelid = 'email_queue'::regclass
                     and pg_get_constraintdef(oid) like '%stopped%') then
        alter table email_queue drop constraint if exists email_queue_failure_kind_known;
        alter table email_queue add constraint email_queue_failure_kind_known
            check (failure_kind in ('rejected', 'ambiguous', 'invalid', 'suppressed',
                                    'content', 'campaign_gone', 'transient', 'system',
                                    'interrupted', 'not_accepted', 'stopped'));
    end if;
end
$$;

-- How far the reply poll has read each mailbox (user@host/folder, no password).
create table if not exists reply_mailboxes (mailbox text primary key);
alter table reply_mailboxes
    add column if not exists uidvalidity bigint,
    add column if not exists last_uid bigint not null default 0,
    add column if not exists updated_at timestamptz not null default now();

-- Every message the reply poll read, once (by mailbox and Message-ID, so a re-read
-- after a UIDVALIDITY change counts nothing twice): kind is reply, auto_reply,
-- bounce, delay or other; lead_id the lead it was matched to, if any.
create table if not exists inbound_messages (id uuid primary key default gen_random_uuid());
alter table inbound_messages
    add column if not exists mailbox text,
    add column if not exists uid bigint,
    add column if not exists message_id text,
    add column if not exists kind text,
    add column if not exists lead_id uuid,
    add column if not exists detail text,
    add column if not exists received_at timestamptz,
    add column if not exists created_at timestamptz not null default now();
create unique index if not exists inbound_messages_once on inbound_messages (mailbox, message_id);

alter table campaign_sequences enable row level security;
alter table campaign_leads enable row level security;
alter table reply_mailboxes enable row level security;
alter table inbound_messages enable row level security;

-- A lead's bucket, 0-99, from its id alone: the same lead always gets the same
-- variant, in every store (SQLite registers the same function in Python).
create or replace function cr_lead_bucket(p_id uuid) returns int
language sql immutable
as $$ select (('x' || substr(md5(p_id::text), 1, 8))::bit(32)::bigint % 100)::int $$;

-- As 0002's, with what a row of a lead needs to be sent in its thread.
create or replace function cr_rows_json(p_ids uuid[]) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'id', q.id, 'campaign_id', q.campaign_id, 'to_email', q.to_email,
               'to_name', q.to_name, 'from_email', q.from_email, 'subject', q.subject,
               'body', q.body, 'metadata', q.metadata, 'attempts', q.attempts,
               'scheduled_for', q.scheduled_for,
               'lead_id', q.lead_id, 'step_number', q.step_number,
               'message_id_header', q.message_id_header,
               'references_header', q.references_header,
               'reply_token', (select l.reply_token from campaign_leads l where l.id = q.lead_id),
               'c_id', c.id, 'c_name', c.name, 'c_status', c.status, 'c_subject', c.subject,
               'c_body_template', c.body_template, 'c_ai_prompt', c.ai_prompt,
               'c_from_name', c.from_name, 'c_reply_to', c.reply_to,
               'suppressed', exists (select 1 from suppressions s
                                     where s.email = lower(trim(q.to_email))))
           order by q.scheduled_for, q.id), '[]'::jsonb)
    from email_queue q
    left join campaigns c on c.id = q.campaign_id
    where q.id = any(p_ids)
$$;

-- As 0005's: a row whose lead stopped is never requeued (`stopped`).
create or replace function cr_failed_kinds(p_campaign_id uuid)
returns table (id uuid, kind text)
language sql stable
set search_path = public, pg_temp
as $$
    select q.id,
           case when q.failure_kind = 'stopped' then 'stopped'
                when exists (select 1 from suppressions s
                             where s.email = lower(trim(q.to_email))) then 'suppressed'
                when q.failure_kind = 'ambiguous' then 'ambiguous'
                else 'retryable' end
    from email_queue q
    where q.campaign_id = p_campaign_id and q.status = 'failed'
$$;

-- As 0002's, except that a campaign with active leads is not complete: between two
-- steps it has nothing queued, and its next steps are still to come.
create or replace function cr_roll_up(p_now timestamptz) returns void
language sql
set search_path = public, pg_temp
as $$
    update campaigns c
    set sent_count = (select count(*) from email_queue q
                      where q.campaign_id = c.id and q.status = 'sent'),
        failed_count = (select count(*) from email_queue q
                        where q.campaign_id = c.id and q.status = 'failed'),
        completed_at = case when c.status = 'sending' and done.done then p_now
                            else c.completed_at end,
        status = case when c.status = 'sending' and done.done then 'completed'
                      else c.status end,
        updated_at = p_now
    from (select id from campaigns
          where status in ('sending', 'paused', 'cancelled')
          order by id
          for update) live
    cross join lateral (
        select not exists (select 1 from email_queue q
                           where q.campaign_id = live.id
                             and q.status in ('queued', 'processing'))
               and not exists (select 1 from campaign_leads l
                               where l.campaign_id = live.id and l.status = 'active') as done
    ) done
    where c.id = live.id
$$;

-- Stop leads: their status (replied, bounced, unsubscribed), why, the step it is
-- counted on (the last one sent), and every row of theirs not yet started failed as `stopped` (a row a
-- worker has claimed but not started is failed too: its start_send then finds it is
-- no longer processing and nothing is sent). Only leads still walking (active or
-- paused), or completed ones for a reply, change. Returns how many leads stopped.
create or replace function cr_stop_leads(
    p_ids uuid[],
    p_status text,
    p_reason text,
    p_at timestamptz,
    p_now timestamptz
) returns int
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_stopped uuid[];
begin
    with stopped as (
        update campaign_leads l
        set status = p_status, error = p_reason,
            -- the last step sent, even when the progress has not counted it yet
            stopped_step = greatest(l.current_step,
                                    (select max(q.step_number) from email_queue q
                                     where q.lead_id = l.id and q.status = 'sent')),
            replied_at = case when p_status = 'replied' then p_at else l.replied_at end,
            updated_at = p_now
        where l.id = any(p_ids)
          and (l.status in ('active', 'paused')
               or (p_status = 'replied' and l.status = 'completed'))
        returning l.id
    )
    select coalesce(array_agg(id), '{}') into v_stopped from stopped;
    update email_queue q
    set status = 'failed', failure_kind = 'stopped',
        error = 'not sent: the lead is ' || p_status || coalesce(' (' || p_reason || ')', ''),
        updated_at = p_now
    where q.lead_id = any(v_stopped) and q.status in ('queued', 'processing')
      and q.send_started_at is null;
    return cardinality(v_stopped);
end
$$;

-- What the dispatcher needs of the campaigns that have active leads due at p_now:
-- their schedules, to tell whether each one's window is open.
create or replace function cr_sequence_campaigns(p_now timestamptz) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', c.id, 'send_days', to_jsonb(c.send_days),
               'send_time_start', c.send_time_start, 'send_time_end', c.send_time_end,
               'timezone', c.timezone, 'daily_limit', c.daily_limit) order by c.id), '[]')
    from campaigns c
    where c.status in ('scheduled', 'sending')
      and exists (select 1 from campaign_leads l
                  where l.campaign_id = c.id and l.status = 'active'
                    and coalesce(l.next_email_at, l.created_at) <= p_now)
$$;

-- A campaign's rows that count against its daily_limit on the local day
-- [p_day_start, p_day_end): sent that day, or waiting to go that day.
create or replace function cr_campaign_day_count(
    p_campaign_id uuid,
    p_day_start timestamptz,
    p_day_end timestamptz
) returns int
language sql stable
set search_path = public, pg_temp
as $$
    select count(*)::int
    from email_queue q
    where q.campaign_id = p_campaign_id and q.status in ('queued', 'processing', 'sent')
      and coalesce(q.sent_at, q.scheduled_for) >= p_day_start
      and coalesce(q.sent_at, q.scheduled_for) < p_day_end
$$;

-- The leads due at p_now in the open campaigns p_campaigns
-- ([{campaign_id, day_start, day_end}], the local day of each window), at most
-- p_limit per campaign and no more than its daily_limit leaves room for, oldest due
-- first, each with its next step (null when the sequence has no such step), the
-- variant it gets, and its earlier sent steps. Reads only: cr_dispatch_leads writes.
create or replace function cr_due_leads(p_campaigns jsonb, p_now timestamptz, p_limit int)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with open as (
        select o.campaign_id, c.ab_testing_enabled,
               case when c.daily_limit is null then p_limit
                    else least(p_limit, greatest(0, c.daily_limit
                         - cr_campaign_day_count(c.id, o.day_start, o.day_end))) end as room
        from jsonb_to_recordset(p_campaigns)
             as o(campaign_id uuid, day_start timestamptz, day_end timestamptz)
        join campaigns c on c.id = o.campaign_id and c.status in ('scheduled', 'sending')
    ),
    due as (
        select o.ab_testing_enabled, l.*
        from open o
        cross join lateral (
            select l.*
            from campaign_leads l
            where l.campaign_id = o.campaign_id and l.status = 'active'
              and coalesce(l.next_email_at, l.created_at) <= p_now
              and not exists (select 1 from email_queue q
                              where q.lead_id = l.id and q.step_number = l.current_step + 1)
            order by coalesce(l.next_email_at, l.created_at), l.id
            limit o.room
        ) l
    )
    select coalesce(jsonb_agg(jsonb_build_object(
               'lead_id', d.id, 'campaign_id', d.campaign_id, 'to_email', d.to_email,
               'to_name', d.to_name, 'metadata', d.metadata,
               'step_number', d.current_step + 1,
               'variant', case when not d.ab_testing_enabled then 'A'
                               when d.assigned_variant is not null then d.assigned_variant
                               when cr_lead_bucket(d.id) < first.variant_split then 'A'
                               else 'B' end,
               'variant_split', first.variant_split,
               'step', case when s.id is null then null else jsonb_build_object(
                   'variant_a_subject', s.variant_a_subject, 'variant_a_body', s.variant_a_body,
                   'variant_b_subject', s.variant_b_subject, 'variant_b_body', s.variant_b_body,
                   'use_ai_generation', s.use_ai_generation,
                   'ai_prompt_context', s.ai_prompt_context) end,
               'earlier', (select coalesce(jsonb_agg(jsonb_build_object(
                                   'step_number', q.step_number, 'subject', q.subject,
                                   'body', q.body) order by q.step_number), '[]')
                           from email_queue q
                           where q.lead_id = d.id and q.status = 'sent'))
           order by coalesce(d.next_email_at, d.created_at), d.id), '[]')
    from due d
    left join campaign_sequences s
        on s.campaign_id = d.campaign_id and s.step_number = d.current_step + 1
    left join campaign_sequences first
        on first.campaign_id = d.campaign_id and first.step_number = 1
$$;

-- Write what the dispatcher made of due leads, in one transaction:
-- p_leads [{lead_id, step_number, variant, subject, body, model, error}]. A lead with
-- an error is paused with it. The others, still active, due and without a row for
-- that step (locked, skipping those another transaction holds), get one queued row
-- due at p_now, within what each campaign's daily_limit leaves on its local day
-- (p_campaigns as for cr_due_leads; one dispatch per campaign at a time). The sending
-- address of a lead without one is the next active sending address round-robin, else
-- the campaign's from_email; a lead with neither is paused. Returns counts.
create or replace function cr_dispatch_leads(
    p_campaigns jsonb,
    p_leads jsonb,
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_campaign record;
    v_room int;
    v_assigned int;
    v_addresses jsonb;
    v_queued int := 0;
    v_paused int := 0;
    v_n int;
    v_no_sender int;
begin
    with wanted as (
        select * from jsonb_to_recordset(p_leads) as w(lead_id uuid, error text)
        where w.error is not null
    ),
    paused as (
        update campaign_leads l
        set status = 'paused', error = w.error, updated_at = p_now
        from wanted w
        where l.id = w.lead_id and l.status = 'active'
        returning 1
    )
    select count(*) into v_paused from paused;

    select coalesce(jsonb_agg(jsonb_build_object('domain_index', d.domain_index,
                                                 'from_email', d.from_email)
                              order by d.domain_index), '[]')
    into v_addresses
    from sending_domains d
    where d.active and d.domain_index is not null and coalesce(d.from_email, '') <> '';

    for v_campaign in
        select o.campaign_id, o.day_start, o.day_end, c.daily_limit, c.from_email
        from jsonb_to_recordset(p_campaigns)
             as o(campaign_id uuid, day_start timestamptz, day_end timestamptz)
        join campaigns c on c.id = o.campaign_id and c.status in ('scheduled', 'sending')
        order by o.campaign_id
    loop
        -- One dispatch of a campaign at a time, so two workers never both fill its day.
        perform pg_advisory_xact_lock(hashtext('cr_dispatch_leads'),
                                      hashtext(v_campaign.campaign_id::text));
        v_room := case when v_campaign.daily_limit is null then 2147483647
                       else greatest(0, v_campaign.daily_limit - cr_campaign_day_count(
                           v_campaign.campaign_id, v_campaign.day_start, v_campaign.day_end))
                  end;
        select count(*) into v_assigned from campaign_leads
        where campaign_id = v_campaign.campaign_id and domain_index is not null;
        with wanted as (
            select *
            from jsonb_to_recordset(p_leads) as w(lead_id uuid, step_number int, variant text,
                                                 subject text, body text, model text,
                                                 error text)
            where w.error is null
        ),
        locked as (
            select l.id, l.from_email, w.step_number, w.variant, w.subject, w.body, w.model,
                   row_number() over (partition by l.from_email is null
                                      order by coalesce(l.next_email_at, l.created_at), l.id)
                       as n
            from (select l.*
                  from campaign_leads l
                  join wanted w on w.lead_id = l.id
                  where l.campaign_id = v_campaign.campaign_id and l.status = 'active'
                    and l.current_step + 1 = w.step_number
                    and coalesce(l.next_email_at, l.created_at) <= p_now
                    and not exists (select 1 from email_queue q
                                    where q.lead_id = l.id and q.step_number = w.step_number)
                  order by coalesce(l.next_email_at, l.created_at), l.id
                  limit v_room
                  for update of l skip locked) l
            join wanted w on w.lead_id = l.id
        ),
        addressed as (
            select k.*,
                   coalesce(k.from_email, a.value ->> 'from_email', v_campaign.from_email)
                       as sender,
                   case when k.from_email is null then (a.value ->> 'domain_index')::int end
                       as domain_index
            from locked k
            left join lateral (
                select value from jsonb_array_elements(v_addresses) with ordinality e(value, i)
                where k.from_email is null and jsonb_array_length(v_addresses) > 0
                  and e.i - 1 = (v_assigned + k.n - 1) % nullif(jsonb_array_length(v_addresses), 0)
            ) a on true
        ),
        no_sender as (
            update campaign_leads l
            set status = 'paused', updated_at = p_now,
                error = 'no sending address: set the lead''s from_email, add one with '
                        '`campaign-runner domains add`, or set the campaign''s from_email'
            from addressed a
            where l.id = a.id and coalesce(a.sender, '') = ''
            returning 1
        ),
        leads as (
            update campaign_leads l
            set from_email = a.sender, domain_index = coalesce(l.domain_index, a.domain_index),
                assigned_variant = coalesce(l.assigned_variant, a.variant), updated_at = p_now
            from addressed a
            where l.id = a.id and coalesce(a.sender, '') <> ''
            returning l.*, a.step_number, a.subject, a.body, a.model
        ),
        queued as (
            insert into email_queue (campaign_id, lead_id, step_number, variant, to_email,
                                     to_name, metadata, from_email, domain_index, subject, body,
                                     generation_model, generated_at, status, scheduled_for,
                                     message_id_header, references_header, created_at,
                                     updated_at)
            select l.campaign_id, l.id, l.step_number, l.assigned_variant, l.to_email,
                   l.to_name, l.metadata, l.from_email, l.domain_index, l.subject, l.body,
                   l.model, case when l.model is not null then p_now end, 'queued', p_now,
                   '<' || gen_random_uuid() || '@' || cr_sending_domain(l.from_email) || '>',
                   (select string_agg(q.message_id_header, ' ' order by q.step_number)
                    from email_queue q
                    where q.lead_id = l.id and q.status = 'sent'
                      and q.message_id_header is not null),
                   p_now, p_now
            from leads l
            on conflict (lead_id, step_number) where lead_id is not null do nothing
            returning 1
        )
        select (select count(*) from queued), (select count(*) from no_sender)
        into v_n, v_no_sender;
        v_queued := v_queued + v_n;
        v_paused := v_paused + v_no_sender;
    end loop;
    return jsonb_build_object('queued', v_queued, 'paused', v_paused);
end
$$;

-- Move leads on from what happened to their rows, idempotently:
-- - a lead whose address is suppressed stops (bounced when the suppression's reason
--   or source says bounce, else unsubscribed);
-- - a lead (active, or paused by a failure) whose next step's row is sent advances:
--   current_step, last_email_at, and next_email_at = the send plus the next step's
--   delay (the dispatcher waits for the campaign's window); after the last step it is
--   completed; a gap in the step numbers pauses it with the reason;
-- - a lead whose next step's row failed for good stops: bounced when the provider
--   refused the recipient, else paused with the row's error;
-- and the steps' counters of live campaigns are recounted. Returns counts.
create or replace function cr_sequence_progress(p_now timestamptz) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_ids uuid[];
    v_suppressed int := 0;
    v_advanced int;
    v_failed int;
    v_bounced int := 0;
begin
    select coalesce(array_agg(l.id), '{}') into v_ids
    from campaign_leads l
    join suppressions s on s.email = lower(trim(l.to_email))
    where l.status in ('active', 'paused')
      and (s.reason ilike '%bounce%' or s.source ilike '%bounce%'
           or s.source ilike '%out_of_band%');
    v_suppressed := cr_stop_leads(v_ids, 'bounced', 'the address is suppressed (bounce)',
                                  p_now, p_now);
    select coalesce(array_agg(l.id), '{}') into v_ids
    from campaign_leads l
    join suppressions s on s.email = lower(trim(l.to_email))
    where l.status in ('active', 'paused');
    v_suppressed := v_suppressed + cr_stop_leads(v_ids, 'unsubscribed',
                                                 'the address is suppressed', p_now, p_now);

    with sent as (
        select l.id, q.step_number, q.sent_at,
               (select min(s.step_number) from campaign_sequences s
                where s.campaign_id = l.campaign_id and s.step_number > q.step_number)
                   as next_step
        from campaign_leads l
        join email_queue q on q.lead_id = l.id and q.step_number = l.current_step + 1
        where l.status in ('active', 'paused') and q.status = 'sent'
    ),
    advanced as (
        update campaign_leads l
        set current_step = s.step_number, last_email_at = s.sent_at, updated_at = p_now,
            status = case when s.next_step is null then 'completed'
                          when s.next_step <> s.step_number + 1 then 'paused'
                          else 'active' end,
            error = case when s.next_step > s.step_number + 1
                         then format('the sequence has no step %s (steps are numbered 1, 2, '
                                     '3 ... without gaps)', s.step_number + 1) end,
            next_email_at = case when s.next_step = s.step_number + 1 then
                s.sent_at + (select make_interval(days => n.delay_days, hours => n.delay_hours)
                             from campaign_sequences n
                             where n.campaign_id = l.campaign_id
                               and n.step_number = s.next_step) end
        from sent s
        where l.id = s.id
        returning 1
    )
    select count(*) into v_advanced from advanced;

    select coalesce(array_agg(l.id), '{}') into v_ids
    from campaign_leads l
    join email_queue q on q.lead_id = l.id and q.step_number = l.current_step + 1
    where l.status = 'active' and q.status = 'failed' and q.failure_kind = 'rejected';
    v_bounced := cr_stop_leads(v_ids, 'bounced', 'the provider refused the recipient',
                               p_now, p_now);
    update campaign_leads l set stopped_step = l.current_step + 1
    where l.id = any(v_ids) and l.status = 'bounced';

    with failed as (
        update campaign_leads l
        set status = 'paused', updated_at = p_now,
            error = format('step %s failed: %s', q.step_number, q.error)
        from email_queue q
        where q.lead_id = l.id and q.step_number = l.current_step + 1
          and l.status = 'active' and q.status = 'failed'
          and q.failure_kind is distinct from 'stopped'
        returning 1
    )
    select count(*) into v_failed from failed;

    with counts as (
        select s.id,
               count(*) filter (where q.status = 'sent' and q.variant = 'A') as a_sent,
               count(*) filter (where q.status = 'sent' and q.variant = 'B') as b_sent,
               -- 0006's facts from SparkPost's events
               count(q.delivered_at) filter (where q.variant = 'A') as a_delivered,
               count(q.delivered_at) filter (where q.variant = 'B') as b_delivered,
               count(q.opened_at) filter (where q.variant = 'A') as a_opened,
               count(q.opened_at) filter (where q.variant = 'B') as b_opened,
               count(q.clicked_at) filter (where q.variant = 'A') as a_clicked,
               count(q.clicked_at) filter (where q.variant = 'B') as b_clicked
        from campaign_sequences s
        join campaigns c on c.id = s.campaign_id and c.status in ('scheduled', 'sending', 'paused')
        left join email_queue q on q.lead_id is not null and q.campaign_id = s.campaign_id
                               and q.step_number = s.step_number
        group by s.id
    ),
    stops as (
        select s.id,
               count(*) filter (where l.status = 'replied' and l.assigned_variant = 'A')
                   as a_replied,
               count(*) filter (where l.status = 'replied' and l.assigned_variant = 'B')
                   as b_replied,
               count(*) filter (where l.status = 'bounced' and l.assigned_variant = 'A')
                   as a_bounced,
               count(*) filter (where l.status = 'bounced' and l.assigned_variant = 'B')
                   as b_bounced
        from campaign_sequences s
        join campaigns c on c.id = s.campaign_id and c.status in ('scheduled', 'sending', 'paused')
        left join campaign_leads l on l.campaign_id = s.campaign_id
                                  and l.stopped_step = s.step_number
        group by s.id
    )
    update campaign_sequences s
    set variant_a_sent = c.a_sent, variant_b_sent = c.b_sent,
        variant_a_delivered = c.a_delivered, variant_b_delivered = c.b_delivered,
        variant_a_opened = c.a_opened, variant_b_opened = c.b_opened,
        variant_a_clicked = c.a_clicked, variant_b_clicked = c.b_clicked,
        variant_a_replied = t.a_replied, variant_b_replied = t.b_replied,
        variant_a_bounced = t.a_bounced, variant_b_bounced = t.b_bounced, updated_at = p_now
    from counts c
    join stops t on t.id = c.id
    where s.id = c.id
      and (s.variant_a_sent, s.variant_b_sent, s.variant_a_delivered, s.variant_b_delivered,
           s.variant_a_opened, s.variant_b_opened, s.variant_a_clicked, s.variant_b_clicked,
           s.variant_a_replied, s.variant_b_replied, s.variant_a_bounced, s.variant_b_bounced)
          is distinct from (c.a_sent, c.b_sent, c.a_delivered, c.b_delivered, c.a_opened,
                            c.b_opened, c.a_clicked, c.b_clicked, t.a_replied, t.b_replied,
                            t.a_bounced, t.b_bounced);

    return jsonb_build_object('suppressed', v_suppressed, 'advanced', v_advanced,
                              'bounced', v_bounced, 'paused', v_failed);
end
$$;

-- How far the reply poll has read a mailbox: {uidvalidity, last_uid}, {} for one
-- never read.
create or replace function cr_reply_mailbox(p_mailbox text) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce((select jsonb_build_object('uidvalidity', uidvalidity, 'last_uid', last_uid)
                     from reply_mailboxes where mailbox = p_mailbox), '{}'::jsonb)
$$;

-- What the reply poll read from one mailbox (sending address p_address), in one
-- transaction with the new read position: p_messages [{uid, message_id, kind,
-- references, tokens, sender, received_at, detail}], kind one of reply, auto_reply,
-- bounce (a permanent delivery failure), delay, other. Each message is kept once (by
-- mailbox and Message-ID) and matched to a lead by one of our Message-IDs in its
-- references (for a bounce: the original's), else by a reply token, else, for a
-- reply, by its sender being a lead mailed from p_address. A new reply stops its lead
-- as replied, a new bounce as bounced. Returns counts by kind and of unmatched ones.
create or replace function cr_record_inbound(
    p_mailbox text,
    p_address text,
    p_uidvalidity bigint,
    p_last_uid bigint,
    p_messages jsonb,
    p_now timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_message record;
    v_result jsonb := '{}'::jsonb;
    v_stopped int;
begin
    for v_message in
        with incoming as (
            select m.*
            from jsonb_to_recordset(p_messages)
                 as m(uid bigint, message_id text, kind text, "references" text[],
                      tokens text[], sender text, received_at timestamptz, detail text)
        ),
        matched as (
            select i.*,
                   coalesce(
                       (select q.lead_id from email_queue q
                        where q.message_id_header = any(i."references") and q.lead_id is not null
                        order by q.step_number desc limit 1),
                       (select l.id from campaign_leads l where l.reply_token = any(i.tokens)
                        limit 1),
                       (select l.id from campaign_leads l
                        where i.kind = 'reply' and coalesce(p_address, '') <> ''
                          and lower(trim(l.to_email)) = lower(trim(i.sender))
                          and lower(l.from_email) = lower(p_address)
                          and l.status in ('active', 'paused', 'completed')
                        order by l.last_email_at desc nulls last limit 1)) as lead_id
            from incoming i
        )
        insert into inbound_messages (mailbox, uid, message_id, kind, lead_id, detail,
                                      received_at, created_at)
        select p_mailbox, m.uid, coalesce(m.message_id, format('<uid-%s-%s>', p_uidvalidity,
                                                              m.uid)),
               m.kind, m.lead_id, m.detail, m.received_at, p_now
        from matched m
        on conflict (mailbox, message_id) do nothing
        returning kind, lead_id, received_at, detail
    loop
        v_stopped := 0;
        if v_message.lead_id is not null and v_message.kind = 'reply' then
            v_stopped := cr_stop_leads(array[v_message.lead_id], 'replied', null,
                                       coalesce(v_message.received_at, p_now), p_now);
        elsif v_message.lead_id is not null and v_message.kind = 'bounce' then
            v_stopped := cr_stop_leads(array[v_message.lead_id], 'bounced',
                                       coalesce(v_message.detail, 'a delivery report'),
                                       p_now, p_now);
        end if;
        v_result := jsonb_set(v_result, array[v_message.kind],
                              to_jsonb(coalesce((v_result ->> v_message.kind)::int, 0) + 1));
        if v_message.lead_id is null then
            v_result := jsonb_set(v_result, '{unmatched}',
                                  to_jsonb(coalesce((v_result ->> 'unmatched')::int, 0) + 1));
        end if;
        if v_stopped > 0 then
            v_result := jsonb_set(v_result, '{stopped}',
                                  to_jsonb(coalesce((v_result ->> 'stopped')::int, 0) + 1));
        end if;
    end loop;
    insert into reply_mailboxes (mailbox, uidvalidity, last_uid, updated_at)
    values (p_mailbox, p_uidvalidity, p_last_uid, p_now)
    on conflict (mailbox) do update
    set uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
        updated_at = excluded.updated_at;
    return v_result;
end
$$;

-- `status` of sequence campaigns: per campaign its leads by status, and per step the
-- counters of each variant.
create or replace function cr_sequence_status() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', c.id, 'campaign_name', c.name,
               'leads', (select coalesce(jsonb_object_agg(status, n), '{}')
                         from (select status, count(*) as n from campaign_leads
                               where campaign_id = c.id group by status) b),
               'steps', (select coalesce(jsonb_agg(to_jsonb(s) - 'campaign_id' - 'id'
                                                   - 'created_at' - 'updated_at'
                                                   - 'variant_a_subject' - 'variant_a_body'
                                                   - 'variant_b_subject' - 'variant_b_body'
                                                   - 'ai_prompt_context'
                                                   order by s.step_number), '[]')
                         from campaign_sequences s where s.campaign_id = c.id))
           order by c.name, c.id), '[]')
    from campaigns c
    where exists (select 1 from campaign_leads l where l.campaign_id = c.id)
$$;

-- `stage` of a campaign with steps (issue 18): its imported contacts become leads
-- (active: the dispatcher takes them once the campaign is launched), one per address
-- the campaign has no lead for, none for a suppressed address; a draft campaign is
-- `staged`. {sequence: false} for a campaign without steps (stage rows instead).
create or replace function cr_stage_leads(p_campaign_id uuid, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_status text;
    v_staged int;
    v_suppressed int;
begin
    select status into v_status from campaigns where id = p_campaign_id for update;
    if not found or not exists (select 1 from campaign_sequences
                                where campaign_id = p_campaign_id) then
        return jsonb_build_object('sequence', false);
    end if;
    if v_status in ('completed', 'cancelled') then
        return jsonb_build_object('sequence', true, 'error', 'the campaign is ' || v_status
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
               exists (select 1 from campaign_leads l
                       where l.campaign_id = p_campaign_id
                         and lower(trim(l.to_email)) = lower(s.email)) as present
        from source s
    ),
    inserted as (
        insert into campaign_leads (campaign_id, to_email, to_name, metadata, status,
                                    created_at, updated_at)
        select p_campaign_id, email, to_name, metadata, 'active',
               p_now + row_number() over (order by created_at, id) * interval '1 microsecond',
               p_now
        from judged
        where not suppressed and not present
        returning 1
    )
    select (select count(*) from inserted), count(*) filter (where suppressed and not present)
    into v_staged, v_suppressed
    from judged;
    update campaigns
    set status = case when status = 'draft' then 'staged' else status end,
        stage_requested_at = null, request_error = null, updated_at = p_now
    where id = p_campaign_id
    returning status into v_status;
    return jsonb_build_object('sequence', true, 'staged', v_staged,
                              'suppressed', v_suppressed, 'status', v_status);
end
$$;

-- `launch` of a campaign with steps: a draft or staged campaign with leads becomes
-- `scheduled`, and its leads' steps are the dispatcher's from then on (each step's
-- time comes from its delay and the campaign's window, not from a plan).
-- {sequence: false} for a campaign without steps (launch rows instead).
create or replace function cr_launch_leads(p_campaign_id uuid, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_status text;
    v_leads int;
begin
    select status into v_status from campaigns where id = p_campaign_id for update;
    if not found or not exists (select 1 from campaign_sequences
                                where campaign_id = p_campaign_id) then
        return jsonb_build_object('sequence', false);
    end if;
    select count(*) into v_leads from campaign_leads
    where campaign_id = p_campaign_id and status = 'active';
    if v_status in ('completed', 'cancelled') then
        return jsonb_build_object('sequence', true, 'error', 'the campaign is ' || v_status
                                  || ': nothing more is launched');
    end if;
    if v_leads = 0 and v_status in ('draft', 'staged') then
        return jsonb_build_object('sequence', true, 'error', 'no active leads: import '
                                  || 'contacts and run `campaign-runner stage` first');
    end if;
    update campaigns
    set status = case when status in ('draft', 'staged') then 'scheduled' else status end,
        launch_requested_at = null, request_error = null, updated_at = p_now
    where id = p_campaign_id
    returning status into v_status;
    return jsonb_build_object('sequence', true, 'leads', v_leads, 'status', v_status);
end
$$;

-- `campaign apply` of a file with [[steps]]: the campaign's steps become the file's
-- p_steps ([{step_number, delay_days, ...}], numbered 1, 2, 3 ...), each one's counters
-- kept, steps past the file's last removed, ab_testing_enabled set. Returns how many
-- steps changed (0: the file says what the database has).
create or replace function cr_put_sequence_steps(
    p_campaign_id uuid,
    p_ab_testing boolean,
    p_steps jsonb,
    p_now timestamptz
) returns int
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_changed int;
    v_removed int;
begin
    update campaigns set ab_testing_enabled = p_ab_testing, updated_at = p_now
    where id = p_campaign_id and ab_testing_enabled is distinct from p_ab_testing;
    with wanted as (
        select * from jsonb_to_recordset(p_steps)
            as w(step_number int, delay_days int, delay_hours int, variant_a_subject text,
                 variant_a_body text, variant_b_subject text, variant_b_body text,
                 variant_split int, use_ai_generation boolean, ai_prompt_context text)
    ),
    written as (
        insert into campaign_sequences as s
            (campaign_id, step_number, delay_days, delay_hours, variant_a_subject,
             variant_a_body, variant_b_subject, variant_b_body, variant_split,
             use_ai_generation, ai_prompt_context, created_at, updated_at)
        select p_campaign_id, w.step_number, w.delay_days, w.delay_hours, w.variant_a_subject,
               w.variant_a_body, w.variant_b_subject, w.variant_b_body, w.variant_split,
               w.use_ai_generation, w.ai_prompt_context, p_now, p_now
        from wanted w
        on conflict (campaign_id, step_number) do update
        set delay_days = excluded.delay_days, delay_hours = excluded.delay_hours,
            variant_a_subject = excluded.variant_a_subject,
            variant_a_body = excluded.variant_a_body,
            variant_b_subject = excluded.variant_b_subject,
            variant_b_body = excluded.variant_b_body, variant_split = excluded.variant_split,
            use_ai_generation = excluded.use_ai_generation,
            ai_prompt_context = excluded.ai_prompt_context, updated_at = p_now
        where (s.delay_days, s.delay_hours, s.variant_a_subject, s.variant_a_body,
               s.variant_b_subject, s.variant_b_body, s.variant_split, s.use_ai_generation,
               s.ai_prompt_context)
              is distinct from
              (excluded.delay_days, excluded.delay_hours, excluded.variant_a_subject,
               excluded.variant_a_body, excluded.variant_b_subject, excluded.variant_b_body,
               excluded.variant_split, excluded.use_ai_generation, excluded.ai_prompt_context)
        returning 1
    )
    select count(*) into v_changed from written;
    delete from campaign_sequences
    where campaign_id = p_campaign_id and step_number > jsonb_array_length(p_steps);
    get diagnostics v_removed = row_count;
    return v_changed + v_removed;
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (10, '0010_sequences.sql')
on conflict (version) do nothing;
