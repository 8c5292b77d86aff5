-- Sequences within their campaigns' windows (issue 17, the parts 0010 left open).
-- Additive and idempotent like 0001-0010; nothing a worker of the previous version
-- calls changes its signature or its meaning.
--
-- A campaign's window (send_days, send_time_*, timezone) is worked out in Python
-- (campaign_runner/schedule.py), the one place that knows time zones for
-- both dialects; the dispatcher hands it to cr_fit_to_windows as the spans the window
-- is open over the next days, as UTC instants, so the SQL compares instants only.

-- send_before: the end of the campaign's open span a sequence row was queued in. The
-- claim leaves a row alone from then on, so a row held back by its domain's pacing
-- or the daily cap never goes out after the campaign's hours; cr_fit_to_windows moves
-- it to the next span. Null (every row but a sequence step's): no such limit.
alter table email_queue add column if not exists send_before timestamptz;
create index if not exists email_queue_sequence_queued
    on email_queue (campaign_id, send_before) where status = 'queued' and lead_id is not null;
-- cr_sequence_schedules asks whether a campaign has paused leads.
create index if not exists campaign_leads_paused
    on campaign_leads (campaign_id) where status = 'paused';

-- What the dispatcher needs of every live campaign with active or paused leads, in one
-- call: its schedule, its status (a paused campaign's leads still move on from rows
-- sent before the pause, but nothing is fitted or dispatched), and whether any of its
-- active leads is due at p_now. Nothing live: the dispatcher stops there.
create or replace function cr_sequence_schedules(p_now timestamptz) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', c.id, 'status', c.status, 'send_days', to_jsonb(c.send_days),
               'send_time_start', c.send_time_start, 'send_time_end', c.send_time_end,
               'timezone', c.timezone, 'daily_limit', c.daily_limit,
               'due', exists (select 1 from campaign_leads l
                              where l.campaign_id = c.id and l.status = 'active'
                                and coalesce(l.next_email_at, l.created_at) <= p_now))
               order by c.id), '[]')
    from campaigns c
    where c.status in ('scheduled', 'sending', 'paused')
      and (exists (select 1 from campaign_leads l
                   where l.campaign_id = c.id and l.status = 'active')
           or exists (select 1 from campaign_leads l
                      where l.campaign_id = c.id and l.status = 'paused'))
$$;

-- Fits the leads and queued rows of the campaigns in p_windows
-- ([{campaign_id, openings: [[opens, closes], ...]}], each campaign's open spans in
-- order, the first the one p_now is in or the next) to those spans:
-- - an active lead whose next step is not queued yet and whose next send
--   (next_email_at, else its creation) falls between two spans, or before the first
--   when that is still to open, gets next_email_at = the next opening (a lead already
--   due in an open span is left as it is): next_email_at says when the step will go,
--   not only when its delay ends;
-- - a queued sequence row not yet started that has no send_before, or whose
--   send_before has passed, gets the span it can go in: scheduled_for no earlier than
--   the span opens, send_before = the span's end.
-- Moved rows still count against the daily_limit of the local day they now fall in.
-- Returns {leads, rows}: how many of each were moved.
create or replace function cr_fit_to_windows(p_windows jsonb, p_now timestamptz)
returns jsonb
language plpgsql
set search_path = public, pg_temp
-- Planned with the call's spans and time: a generic plan, blind to them, joins every
-- active lead instead of reading the few ranges where leads are to move. No JIT: the
-- planner takes the spans for thousands of rows (it cannot count a JSON array), and
-- compiling for that cost 600 ms a run where the run itself takes a few.
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
    v_counts jsonb;
begin
    -- One statement: both updates see the spans, and neither sees the other's rows.
    with spans as materialized (
        select (w ->> 'campaign_id')::uuid as campaign_id,
               (o ->> 0)::timestamptz as opens, (o ->> 1)::timestamptz as closes
        from jsonb_array_elements(p_windows) w
        cross join jsonb_array_elements(w -> 'openings') o
    ),
    -- Where no lead's next send may fall: each gap before a span still to open, from
    -- the end of the span before it (from the start of time before the first span,
    -- unless that one is open now: a lead due in an open span is left as it is). A
    -- lead in a gap moves to the gap's end. Read as ranges of campaign_leads_due, so a
    -- run costs the leads it moves, not every active lead.
    gaps as materialized (
        select campaign_id, opens,
               coalesce(lag(closes) over (partition by campaign_id order by opens),
                        '-infinity') as since
        from spans
    ),
    moved as (
        update campaign_leads l
        set next_email_at = m.opens, updated_at = p_now
        from (
            select g.opens, inside.id
            from gaps g
            cross join lateral (
                select l2.id
                from campaign_leads l2
                where l2.campaign_id = g.campaign_id and l2.status = 'active'
                  and coalesce(l2.next_email_at, l2.created_at) >= g.since
                  and coalesce(l2.next_email_at, l2.created_at) < g.opens
                  and not exists (select 1 from email_queue q
                                  where q.lead_id = l2.id
                                    and q.step_number = l2.current_step + 1)
            ) inside
            where g.opens > p_now
        ) m
        where l.id = m.id
        returning 1
    ),
    target as (
        select q.id, s.opens, s.closes
        from email_queue q
        cross join lateral (
            select s.opens, s.closes from spans s
            where s.campaign_id = q.campaign_id
              and s.closes > case when q.send_before <= p_now then p_now
                                  else q.scheduled_for end
            order by s.opens
            limit 1
        ) s
        where q.campaign_id in (select campaign_id from spans)
          and q.status = 'queued' and q.lead_id is not null and q.send_started_at is null
          and (q.send_before is null or q.send_before <= p_now)
        for update of q skip locked
    ),
    fitted as (
        update email_queue q
        set scheduled_for = greatest(q.scheduled_for, t.opens), send_before = t.closes,
            updated_at = p_now
        from target t
        where q.id = t.id and q.status = 'queued'
        returning 1
    )
    select jsonb_build_object('leads', (select count(*) from moved),
                              'rows', (select count(*) from fitted))
    into v_counts;
    return v_counts;
end
$$;

-- As 0005's cr_claim, and: a row whose send_before has passed is not taken (see
-- above); with p_bound_only (the worker's own window is closed and it is awake for a
-- campaign's), only rows that have a send_before, each bound to an open span of its
-- campaign's own window.
create or replace function cr_claim_v2(
    p_worker text,
    p_limit int,
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz,
    p_bound_only boolean
) returns jsonb
language plpgsql
set search_path = public, pg_temp
-- Planned for each call's own values: a generic plan cannot fold p_bound_only and
-- p_now, and guessing their selectivity it may leave the ordered index for a bitmap
-- scan and a sort of every due row of a domain (the cost the paced claim avoids).
set plan_cache_mode = force_custom_plan
as $$
declare
    v_interval int := coalesce(p_min_interval_seconds, 0);
    v_cap int := coalesce(p_daily_cap, 0);
    v_domains text[];
    v_ids uuid[];
begin
    if v_interval > 0 or v_cap > 0 then
        -- The sending domains with queued rows: a loose index scan, each step the
        -- smallest domain after the last one.
        with recursive queued(domain) as (
            (select cr_sending_domain(q.from_email) from email_queue q
             where q.status = 'queued'
             order by 1 limit 1)
            union all
            select (select cr_sending_domain(q.from_email) from email_queue q
                    where q.status = 'queued' and cr_sending_domain(q.from_email) > d.domain
                    order by 1 limit 1)
            from queued d
            where d.domain is not null
        )
        select array_agg(domain order by domain) into v_domains
        from queued where domain is not null;
        if v_domains is null then
            return '[]'::jsonb;
        end if;

        -- Every such domain gets a pacing row, so that it can be locked below.
        insert into domain_pacing (domain, day_start)
        select unnest(v_domains), p_day_start
        on conflict (domain) do nothing;

        -- A domain's pacing row is locked for the rest of the claim, and a domain
        -- locked by a concurrent claim is skipped: two workers can never both take
        -- the same domain's slot. Each domain it may take from offers its first
        -- `room` due rows (one while spacing is on).
        with allowance as materialized (
            select p.domain,
                   least(p_limit,
                         case when v_interval > 0 then 1 else p_limit end,
                         case when v_cap > 0
                              then v_cap - case when p.day_start is not distinct from p_day_start
                                                then p.day_count else 0 end
                              else p_limit end) as room
            from domain_pacing p
            where p.domain = any(v_domains)
              and (v_interval = 0
                   or p.last_claimed_at <= p_now - make_interval(secs => v_interval))
              and (v_cap = 0 or p.day_start is distinct from p_day_start
                   or p.day_count < v_cap)
            for update skip locked
        )
        select array_agg(first.id) into v_ids
        from allowance a
        cross join lateral (
            -- The campaign is looked up row by row, not joined: a join lets the
            -- planner hash every due row of the domain and sort them, where the
            -- index yields them in order and the LIMIT stops it early.
            select q.id
            from email_queue q
            where q.status = 'queued' and q.scheduled_for <= p_now
              and (q.send_before is null or q.send_before > p_now)
              and (not p_bound_only or q.send_before is not null)
              and cr_sending_domain(q.from_email) = a.domain
              and cr_claimable((select c.status from campaigns c where c.id = q.campaign_id))
            order by q.scheduled_for, q.id
            limit a.room
        ) first;

        -- The earliest of them, each locked by id and re-checked, so a row claimed
        -- meanwhile is never taken twice.
        select array_agg(picked.id) into v_ids
        from (
            select q.id
            from email_queue q
            where q.id = any(v_ids) and q.status = 'queued' and q.scheduled_for <= p_now
              and (q.send_before is null or q.send_before > p_now)
              and (not p_bound_only or q.send_before is not null)
            order by q.scheduled_for, q.id
            limit p_limit
            for update of q skip locked
        ) picked;
    else
        -- The plain claim: the partial index in due order, the LIMIT, SKIP LOCKED. The
        -- campaign is looked up row by row, as in the paced claim: planned for a long
        -- due backlog, a join hashes every due row and sorts them.
        select array_agg(picked.id) into v_ids
        from (
            select q.id
            from email_queue q
            where q.status = 'queued' and q.scheduled_for <= p_now
              and (q.send_before is null or q.send_before > p_now)
              and (not p_bound_only or q.send_before is not null)
              and cr_claimable((select c.status from campaigns c where c.id = q.campaign_id))
            order by q.scheduled_for, q.id
            limit p_limit
            for update of q skip locked
        ) picked;
    end if;

    if v_ids is null then
        return '[]'::jsonb;
    end if;

    -- Only what this update moved is handed out, whatever the selection saw.
    with claimed as (
        update email_queue
        set status = 'processing', locked_by = p_worker, locked_at = p_now,
            attempts = attempts + 1, updated_at = p_now
        where id = any(v_ids) and status = 'queued'
        returning id
    )
    select array_agg(id) into v_ids from claimed;
    if v_ids is null then
        return '[]'::jsonb;
    end if;

    -- Recorded with pacing off too, so that turning the cap on mid-day counts
    -- what was already sent. Sorted, so that concurrent claims lock in one order.
    insert into domain_pacing as p (domain, last_claimed_at, day_start, day_count)
    select cr_sending_domain(q.from_email), p_now, p_day_start, count(*)
    from email_queue q
    where q.id = any(v_ids)
    group by 1
    order by 1
    on conflict (domain) do update set
        day_count = case when p.day_start is not distinct from excluded.day_start
                         then p.day_count + excluded.day_count
                         else excluded.day_count end,
        day_start = excluded.day_start,
        previous_claimed_at = p.last_claimed_at,
        last_claimed_at = excluded.last_claimed_at;

    update campaigns c
    set status = 'sending', started_at = coalesce(c.started_at, p_now), updated_at = p_now
    from (select id from campaigns
          where status = 'scheduled'
            and id in (select campaign_id from email_queue where id = any(v_ids))
          order by id
          for update) s
    where c.id = s.id;

    return cr_rows_json(v_ids);
end
$$;

-- The previous workers' claim: every row, as before, but never one past its
-- send_before. Same signature.
create or replace function cr_claim(
    p_worker text,
    p_limit int,
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns jsonb
language sql
set search_path = public, pg_temp
as $$
    select cr_claim_v2(p_worker, p_limit, p_now, p_min_interval_seconds, p_daily_cap,
                       p_day_start, false)
$$;

-- As 0010's, and a message is also matched by SparkPost's own message_id (the one its
-- events carry, kept in email_events): `provider_ids` are the ids SparkPost may have
-- put in the Message-ID a reply names, in case SparkPost replaced ours. Same
-- signature.
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
                      tokens text[], provider_ids text[], sender text,
                      received_at timestamptz, detail text)
        ),
        matched as (
            select i.*,
                   coalesce(
                       (select q.lead_id from email_queue q
                        where q.message_id_header = any(i."references") and q.lead_id is not null
                        order by q.step_number desc limit 1),
                       (select q.lead_id from email_events e
                        join email_queue q on q.id = e.email_id
                        where e.message_id = any(i.provider_ids) and q.lead_id is not null
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

-- A campaign's steps with their templates, for `test-send` of a sequence; reads only.
create or replace function cr_sequence_steps(p_campaign_id uuid) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'step_number', s.step_number,
               'variant_a_subject', s.variant_a_subject, 'variant_a_body', s.variant_a_body,
               'variant_b_subject', s.variant_b_subject, 'variant_b_body', s.variant_b_body,
               'use_ai_generation', s.use_ai_generation,
               'ai_prompt_context', s.ai_prompt_context) order by s.step_number), '[]')
    from campaign_sequences s
    where s.campaign_id = p_campaign_id
$$;

-- A frontend's recipients of a campaign: its campaign_recipients (campaign_id,
-- contact_id) joined to contacts (id, email), when both exist; each address once,
-- every other column of the contact a field (a jsonb metadata or custom_fields column
-- merged in; user_id, created_at, updated_at left out), to_name its name, or first
-- and last name. What 0008's cr_stage_campaign read inline, for both stages now.
create or replace function cr_frontend_contacts(p_campaign_id uuid)
returns table (contact_id text, email text, to_name text, metadata jsonb)
language plpgsql stable
set search_path = public, pg_temp
as $$
begin
    if not cr_frontend_recipients_present() then
        return;
    end if;
    return query execute $q$
        with contact as (
            select r.contact_id, to_jsonb(ct) as j
            from campaign_recipients r
            join contacts ct on ct.id = r.contact_id
            where r.campaign_id = $1
        ),
        source as (
            select distinct on (lower(trim(j ->> 'email')))
                   trim(j ->> 'email') as email, contact_id::text as contact_id,
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
        )
        select s.contact_id, s.email, s.to_name, s.metadata from source s
    $q$ using p_campaign_id;
end
$$;

-- What a stage takes, each address once: the campaign's imported contacts first, in
-- the order they were imported (a frontend's recipient of the same address is left
-- out), then a frontend's recipients by contact id; `n` is that order. Both stages
-- read it, into rows (cr_stage_campaign) or leads (cr_stage_leads).
create or replace function cr_stage_source(p_campaign_id uuid)
returns table (email text, to_name text, metadata jsonb, contact_id text, n bigint)
language sql stable
set search_path = public, pg_temp
as $$
    select email, to_name, metadata, contact_id, row_number() over (order by origin, n)
    from (
        select distinct on (lower(trim(email))) email, to_name, metadata, contact_id,
                                                origin, n
        from (select i.email, i.to_name, i.metadata, null::text as contact_id, 0 as origin,
                     row_number() over (order by i.created_at, i.id) as n
              from imported_contacts i
              where i.campaign_id = p_campaign_id and coalesce(i.email, '') <> ''
              union all
              select f.email, f.to_name, f.metadata, f.contact_id, 1,
                     row_number() over (order by f.contact_id)
              from cr_frontend_contacts(p_campaign_id) f) c
        order by lower(trim(email)), origin, n
    ) chosen
$$;

-- As 0010's, and a frontend's campaign_recipients become leads too (with their
-- contact_id), as they become rows for a single email. Same signature.
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
    with judged as (
        select s.*,
               exists (select 1 from suppressions x where x.email = lower(s.email)) as suppressed,
               exists (select 1 from campaign_leads l
                       where l.campaign_id = p_campaign_id
                         and lower(trim(l.to_email)) = lower(s.email)) as present
        from cr_stage_source(p_campaign_id) s
    ),
    inserted as (
        insert into campaign_leads (campaign_id, contact_id, to_email, to_name, metadata,
                                    status, created_at, updated_at)
        select p_campaign_id,
               case when contact_id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
                    then contact_id::uuid end,
               email, to_name, metadata, 'active',
               p_now + row_number() over (order by n) * interval '1 microsecond',
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

-- As 0008's, reading what it stages from cr_stage_source, as cr_stage_leads does. Same
-- signature.
create or replace function cr_stage_campaign(p_campaign_id uuid, p_now timestamptz)
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
    if not found then
        return jsonb_build_object('error', 'no such campaign');
    end if;
    if v_status in ('completed', 'cancelled') then
        return jsonb_build_object('error', 'the campaign is ' || v_status
                                  || ': nothing more is staged');
    end if;
    with judged as (
        select s.*,
               exists (select 1 from suppressions x where x.email = lower(s.email)) as suppressed,
               exists (select 1 from email_queue q
                       where q.campaign_id = p_campaign_id
                         and lower(trim(q.to_email)) = lower(s.email)) as present
        from cr_stage_source(p_campaign_id) s
    ),
    inserted as (
        insert into email_queue (campaign_id, to_email, to_name, metadata, status,
                                 created_at, updated_at)
        select p_campaign_id, email, to_name, metadata, 'staged',
               p_now + row_number() over (order by n) * interval '1 microsecond',
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
    return jsonb_build_object('staged', v_staged, 'suppressed', v_suppressed,
                              'status', v_status);
end
$$;

-- As 0010's, and each campaign's next_due: when the next step not queued yet of its
-- active leads is due (fitted to the window, see cr_fit_to_windows), for `status`.
-- Same signature.
create or replace function cr_sequence_status() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', c.id, 'campaign_name', c.name,
               'next_due', (select min(coalesce(l.next_email_at, l.created_at))
                            from campaign_leads l
                            where l.campaign_id = c.id and l.status = 'active'
                              and not exists (select 1 from email_queue q
                                              where q.lead_id = l.id
                                                and q.step_number = l.current_step + 1)),
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

-- As 0010's, and a stopped lead's row that a worker claimed but has not started gives
-- its domain's pacing back (0010 failed it and kept the slot and the day's unit taken
-- for a message that never left). Same signature.
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
    -- A row a worker has claimed but not started ends as its worker's own finish would
    -- end it (cr_finish_v2), giving back what its claim took of the domain's pacing.
    perform cr_finish_v2(q.id, q.locked_by, p_now, 'failed',
                         'not sent: the lead is ' || p_status
                         || coalesce(' (' || p_reason || ')', ''),
                         'stopped', null, null, false)
    from email_queue q
    where q.lead_id = any(v_stopped) and q.status = 'processing'
      and q.send_started_at is null;
    update email_queue q
    set status = 'failed', failure_kind = 'stopped',
        error = 'not sent: the lead is ' || p_status || coalesce(' (' || p_reason || ')', ''),
        updated_at = p_now
    where q.lead_id = any(v_stopped) and q.status = 'queued';
    return cardinality(v_stopped);
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (11, '0011_sequence_windows.sql')
on conflict (version) do nothing;
