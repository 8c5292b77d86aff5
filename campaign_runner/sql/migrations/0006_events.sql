-- SparkPost's events, read back by polling its Events API (issue 15). Additive and
-- idempotent like the others: a worker of an earlier version never reads these.
--
-- The poller (campaign_runner/events) reads one time window at a time, page by page;
-- Python parses each event and decides what it does (events/rules.py), and one call
-- of cr_ingest_events per page stores and applies it in one transaction:
-- the events deduplicated by event_id, each new one landed on its row, addresses
-- suppressed, ambiguous rows settled by evidence, counters recounted and the read
-- position advanced, or none of it. A lease on the read position keeps two
-- workers from polling at once; a crash mid-window leaves the position where it
-- was, and the window read again changes nothing.

-- Every event read, once. email_id is the row it landed on (null: no row of ours,
-- kept and counted); problem says what was wrong with it, if anything.
create table if not exists email_events (event_id text primary key);
alter table email_events
    add column if not exists type text not null default '',
    add column if not exists occurred_at timestamptz,
    add column if not exists email_id uuid,
    add column if not exists campaign_id uuid,
    add column if not exists transmission_id text,
    add column if not exists message_id text,
    add column if not exists recipient text,
    add column if not exists bounce_class int,
    add column if not exists reason text,
    add column if not exists problem text,
    add column if not exists raw jsonb not null default 'null'::jsonb,
    add column if not exists received_at timestamptz not null default now();
create index if not exists email_events_email on email_events (email_id)
    where email_id is not null;
-- An engagement event for mail older than 60 days comes without rcpt_meta and
-- transmission_id: its message_id finds the row an earlier event of it landed on.
create index if not exists email_events_message on email_events (message_id)
    where message_id is not null;
create index if not exists email_events_unmatched on email_events (received_at)
    where email_id is null;

-- A row's facts from SparkPost, each the time of the first event of its kind; the
-- note of how an ambiguous row was settled.
alter table email_queue
    add column if not exists delivered_at timestamptz,
    add column if not exists opened_at timestamptz,
    add column if not exists clicked_at timestamptz,
    add column if not exists bounced_at timestamptz,
    add column if not exists bounce_class int,
    add column if not exists bounce_reason text,
    add column if not exists complained_at timestamptz,
    add column if not exists unsubscribed_at timestamptz,
    add column if not exists settled_note text;
-- provider_message_id holds the transmission id, which every event carries.
create index if not exists email_queue_provider_message_id on email_queue (provider_message_id)
    where provider_message_id is not null;

-- The ambiguous rows, which every poll looks at to settle (few, in a large table).
create index if not exists email_queue_ambiguous on email_queue (send_started_at)
    where status = 'failed' and failure_kind = 'ambiguous';

-- Rows with each fact, recounted from email_queue like sent_count.
alter table campaigns
    add column if not exists delivered_count int not null default 0,
    add column if not exists opened_count int not null default 0,
    add column if not exists clicked_count int not null default 0,
    add column if not exists bounced_count int not null default 0,
    add column if not exists complained_count int not null default 0,
    add column if not exists unsubscribed_count int not null default 0;

-- How far the events are read, one row per stream ('sparkpost'). read_to: the `to`
-- of the last window read whole; read_since: from when the reading has had no gap
-- (the first window's `from`, or the first after events aged out unread), so that a
-- send with no event can be judged only inside it. window_from/window_to/next_path:
-- a window whose pages are being read, to resume it. The lease: who polls now.
create table if not exists cr_events_position (stream text primary key);
alter table cr_events_position
    add column if not exists read_to timestamptz,
    add column if not exists read_since timestamptz,
    add column if not exists window_from timestamptz,
    add column if not exists window_to timestamptz,
    add column if not exists next_path text,
    add column if not exists lease_holder text,
    add column if not exists lease_until timestamptz,
    add column if not exists polled_at timestamptz,
    add column if not exists events_stored bigint not null default 0,
    add column if not exists events_unmatched bigint not null default 0,
    add column if not exists updated_at timestamptz not null default now();

-- A failure kind more (models.NOT_ACCEPTED): an ambiguous row SparkPost confirms it
-- never received. The closed set of 0005 is widened once, under the same name, so
-- that 0005 run again finds it and leaves it.
do $$
begin
    if not exists (select 1 from pg_constraint
                   where conname = 'email_queue_failure_kind_known'
                     and conrelid = 'email_queue'::regclass
                     and pg_get_constraintdef(oid) like '%not_accepted%') then
        alter table email_queue drop constraint if exists email_queue_failure_kind_known;
        alter table email_queue add constraint email_queue_failure_kind_known
            check (failure_kind in ('rejected', 'ambiguous', 'invalid', 'suppressed',
                                    'content', 'campaign_gone', 'transient', 'system',
                                    'interrupted', 'not_accepted'));
    end if;
end
$$;

alter table email_events enable row level security;
alter table cr_events_position enable row level security;

-- Take the poll lease, unless another worker holds one that has not run out.
-- Returns {claimed, holder, lease_until, read_to, read_since, window_from,
-- window_to, next_path}: where to read from when claimed.
create or replace function cr_events_claim_poll(
    p_poller text,
    p_now timestamptz,
    p_lease_seconds int
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_row cr_events_position;
    v_claimed boolean;
begin
    insert into cr_events_position (stream) values ('sparkpost') on conflict do nothing;
    update cr_events_position
    set lease_holder = p_poller, lease_until = p_now + make_interval(secs => p_lease_seconds),
        polled_at = p_now, updated_at = p_now
    where stream = 'sparkpost'
      and (lease_holder is null or lease_holder = p_poller or lease_until <= p_now)
    returning * into v_row;
    v_claimed := found;
    if not v_claimed then
        select * into v_row from cr_events_position where stream = 'sparkpost';
    end if;
    return jsonb_build_object(
        'claimed', v_claimed, 'holder', v_row.lease_holder, 'lease_until', v_row.lease_until,
        'read_to', v_row.read_to, 'read_since', v_row.read_since,
        'window_from', v_row.window_from, 'window_to', v_row.window_to,
        'next_path', v_row.next_path);
end
$$;

-- Give the lease back at the end of a poll, so the next poll need not wait it out.
create or replace function cr_events_release_poll(p_poller text, p_now timestamptz)
returns boolean
language plpgsql
set search_path = public, pg_temp
as $$
begin
    update cr_events_position
    set lease_holder = null, lease_until = null, updated_at = p_now
    where stream = 'sparkpost' and lease_holder = p_poller;
    return found;
end
$$;

-- Recount the event counters (and sent/failed, which settling changes) of the
-- given campaigns (null: all). Locks them in id order, as cr_roll_up does.
-- Returns how many campaigns were recounted.
create or replace function cr_events_roll_up(p_campaign_ids uuid[], p_now timestamptz)
returns int
language sql
set search_path = public, pg_temp
as $$
    with target as (
        select id from campaigns
        where p_campaign_ids is null or id = any(p_campaign_ids)
        order by id
        for update
    ),
    counted as (
        select q.campaign_id,
               count(*) filter (where q.status = 'sent') as sent,
               count(*) filter (where q.status = 'failed') as failed,
               count(q.delivered_at) as delivered, count(q.opened_at) as opened,
               count(q.clicked_at) as clicked, count(q.bounced_at) as bounced,
               count(q.complained_at) as complained, count(q.unsubscribed_at) as unsubscribed
        from email_queue q
        where q.campaign_id in (select id from target)
        group by q.campaign_id
    ),
    recounted as (
        update campaigns c
        set sent_count = coalesce(n.sent, 0), failed_count = coalesce(n.failed, 0),
            delivered_count = coalesce(n.delivered, 0), opened_count = coalesce(n.opened, 0),
            clicked_count = coalesce(n.clicked, 0), bounced_count = coalesce(n.bounced, 0),
            complained_count = coalesce(n.complained, 0),
            unsubscribed_count = coalesce(n.unsubscribed, 0),
            updated_at = p_now
        from target t
        left join counted n on n.campaign_id = t.id
        where c.id = t.id
        returning 1
    )
    select count(*)::int from recounted
$$;

-- One page of events, as events/records.py makes them: a JSON array of
-- {event_id, type, occurred_at, email_id, campaign_id, transmission_id, message_id,
-- recipient, bounce_class, reason, problem, sets, suppress, evidence, raw}.
-- Only the holder of the poll lease may write (else nothing changes and
-- lease_held is false). In one transaction:
-- - every event is stored once (a known event_id changes nothing), on its row:
--   rcpt_meta's email_id, else the row whose provider_message_id is the
--   transmission id, else the row an earlier event of the same message_id found;
-- - each NEW event sets its column on its row when it is the earliest of its kind
--   (`sets`; a bounce also sets bounce_class and bounce_reason);
-- - its address is suppressed (`suppress` is the reason) if not already;
-- - an ambiguous row (failed, failure_kind 'ambiguous') with evidence it was sent
--   becomes `sent`, with a settled_note; with evidence only that it was not, its kind
--   becomes 'not_accepted' ('not accepted: ...'), which retry-failed requeues without
--   --include-ambiguous;
-- - the campaigns touched are recounted (cr_events_roll_up);
-- - the window's read position: with p_next_path null (the last page) read_to
--   becomes p_window_to; otherwise the window and its next page are kept to resume.
-- Returns {lease_held, received, stored, duplicates, landed, unmatched, problems,
-- suppressed, settled_sent, settled_not_sent, read_to}.
create or replace function cr_ingest_events(
    p_poller text,
    p_now timestamptz,
    p_lease_seconds int,
    p_events jsonb,
    p_window_from timestamptz,
    p_window_to timestamptz,
    p_next_path text
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_position cr_events_position;
    v_result jsonb;
    v_campaigns uuid[];
begin
    select * into v_position from cr_events_position
    where stream = 'sparkpost' for update;
    if v_position.lease_holder is distinct from p_poller then
        return jsonb_build_object('lease_held', false, 'holder', v_position.lease_holder);
    end if;

    with incoming as (
        select distinct on (e.event_id) e.*
        from jsonb_to_recordset(p_events) as e(
            event_id text, type text, occurred_at timestamptz, email_id text,
            campaign_id text, transmission_id text, message_id text, recipient text,
            bounce_class int, reason text, problem text, sets text, suppress text,
            evidence text, raw jsonb)
        where e.event_id is not null
        order by e.event_id
    ),
    resolved as (
        select i.*, coalesce(
            (select q.id from email_queue q where q.id = cr_campaign_uuid(i.email_id)),
            (select q.id from email_queue q
             where i.transmission_id is not null and q.provider_message_id = i.transmission_id
             order by q.id limit 1),
            (select ev.email_id from email_events ev
             where i.message_id is not null and ev.message_id = i.message_id
               and ev.email_id is not null
             limit 1)) as row_id
        from incoming i
    ),
    inserted as (
        insert into email_events (event_id, type, occurred_at, email_id, campaign_id,
                                  transmission_id, message_id, recipient, bounce_class,
                                  reason, problem, raw, received_at)
        select r.event_id, coalesce(r.type, ''), r.occurred_at, r.row_id,
               coalesce(q.campaign_id, cr_campaign_uuid(r.campaign_id)), r.transmission_id,
               r.message_id, r.recipient, r.bounce_class, r.reason, r.problem,
               coalesce(r.raw, 'null'::jsonb), p_now
        from resolved r
        left join email_queue q on q.id = r.row_id
        on conflict (event_id) do nothing
        returning event_id, email_id, campaign_id
    ),
    fresh as (
        select r.*, i.campaign_id as row_campaign
        from inserted i join resolved r on r.event_id = i.event_id
    ),
    per_row as (
        select f.row_id,
               min(f.occurred_at) filter (where f.sets = 'delivered_at') as delivered_at,
               min(f.occurred_at) filter (where f.sets = 'opened_at') as opened_at,
               min(f.occurred_at) filter (where f.sets = 'clicked_at') as clicked_at,
               min(f.occurred_at) filter (where f.sets = 'bounced_at') as bounced_at,
               (array_agg(f.bounce_class order by f.occurred_at)
                   filter (where f.sets = 'bounced_at'))[1] as bounce_class,
               (array_agg(f.reason order by f.occurred_at)
                   filter (where f.sets = 'bounced_at'))[1] as bounce_reason,
               min(f.occurred_at) filter (where f.sets = 'complained_at') as complained_at,
               min(f.occurred_at) filter (where f.sets = 'unsubscribed_at') as unsubscribed_at,
               min(f.occurred_at) filter (where f.type = 'injection') as injected_at,
               (array_agg(format('%s event %s at %s', f.type, f.event_id, f.occurred_at)
                          order by f.occurred_at nulls last)
                   filter (where f.evidence = 'sent'))[1] as sent_proof,
               (array_agg(format('%s event %s at %s%s', f.type, f.event_id, f.occurred_at,
                                 coalesce(': ' || f.reason, ''))
                          order by f.occurred_at nulls last)
                   filter (where f.evidence = 'not_sent'))[1] as not_sent_proof,
               (array_agg(f.transmission_id) filter (where f.transmission_id is not null))[1]
                   as transmission_id
        from fresh f
        where f.row_id is not null
        group by f.row_id
    ),
    landed as (
        update email_queue q
        set delivered_at = least(q.delivered_at, a.delivered_at),
            opened_at = least(q.opened_at, a.opened_at),
            clicked_at = least(q.clicked_at, a.clicked_at),
            bounced_at = least(q.bounced_at, a.bounced_at),
            bounce_class = case when a.bounced_at < coalesce(q.bounced_at, 'infinity')
                                then a.bounce_class else q.bounce_class end,
            bounce_reason = case when a.bounced_at < coalesce(q.bounced_at, 'infinity')
                                 then a.bounce_reason else q.bounce_reason end,
            complained_at = least(q.complained_at, a.complained_at),
            unsubscribed_at = least(q.unsubscribed_at, a.unsubscribed_at),
            status = case when s.ambiguous and a.sent_proof is not null then 'sent'
                          else q.status end,
            sent_at = case when s.ambiguous and a.sent_proof is not null
                           then coalesce(q.sent_at, a.injected_at, q.send_started_at, p_now)
                           else q.sent_at end,
            provider_message_id = case when s.ambiguous and a.sent_proof is not null
                                       then coalesce(q.provider_message_id, a.transmission_id)
                                       else q.provider_message_id end,
            failure_kind = case
                when s.ambiguous and a.sent_proof is not null then null
                when s.ambiguous and a.not_sent_proof is not null then 'not_accepted'
                else q.failure_kind end,
            error = case
                when s.ambiguous and a.sent_proof is not null then null
                when s.ambiguous and a.not_sent_proof is not null
                    then 'not accepted: SparkPost reported ' || a.not_sent_proof
                         || ' (it was ' || q.error || ')'
                else q.error end,
            settled_note = case
                when s.ambiguous and a.sent_proof is not null
                    then 'settled as sent: SparkPost reported ' || a.sent_proof
                         || ' (it was ' || q.error || ')'
                when s.ambiguous and a.not_sent_proof is not null
                    then 'settled as not sent: SparkPost reported ' || a.not_sent_proof
                else q.settled_note end,
            updated_at = p_now
        from per_row a
        cross join lateral (
            select coalesce(q2.status = 'failed' and q2.failure_kind = 'ambiguous', false)
                       and (a.sent_proof is not null or a.not_sent_proof is not null)
                       as ambiguous
            from email_queue q2 where q2.id = a.row_id) s
        where q.id = a.row_id
        returning q.id, s.ambiguous, q.status
    ),
    suppressed as (
        insert into suppressions (email, reason, source, created_at)
        select distinct on (lower(f.recipient)) lower(f.recipient), f.suppress,
               'sparkpost ' || f.type, p_now
        from fresh f
        where f.suppress is not null and f.recipient is not null
        order by lower(f.recipient), f.occurred_at nulls last
        on conflict (email) do nothing
        returning 1
    )
    select jsonb_build_object(
        'lease_held', true,
        'received', (select count(*) from incoming),
        'stored', (select count(*) from fresh),
        'duplicates', (select count(*) from incoming) - (select count(*) from fresh),
        'landed', (select count(*) from landed),
        'unmatched', (select count(*) from fresh where row_id is null),
        'problems', (select count(*) from fresh where problem is not null),
        'suppressed', (select count(*) from suppressed),
        'settled_sent', (select count(*) from landed where ambiguous and status = 'sent'),
        'settled_not_sent', (select count(*) from landed where ambiguous and status = 'failed'),
        'campaigns', (select coalesce(jsonb_agg(distinct row_campaign), '[]'::jsonb)
                      from fresh where row_id is not null and row_campaign is not null))
    into v_result;

    select array_agg(value::uuid) into v_campaigns
    from jsonb_array_elements_text(v_result -> 'campaigns');
    if v_campaigns is not null then
        perform cr_events_roll_up(v_campaigns, p_now);
    end if;

    update cr_events_position
    set read_to = case when p_next_path is null
                       then greatest(read_to, p_window_to) else read_to end,
        read_since = case when p_next_path is null
                               and (read_since is null or read_to is null
                                    or p_window_from > read_to)
                          then p_window_from else read_since end,
        window_from = case when p_next_path is null then null else p_window_from end,
        window_to = case when p_next_path is null then null else p_window_to end,
        next_path = p_next_path,
        lease_until = p_now + make_interval(secs => p_lease_seconds),
        events_stored = events_stored + (v_result ->> 'stored')::bigint,
        events_unmatched = events_unmatched + (v_result ->> 'unmatched')::bigint,
        updated_at = p_now
    where stream = 'sparkpost'
    returning read_to into v_position.read_to;

    return (v_result - 'campaigns') || jsonb_build_object('read_to', v_position.read_to);
end
$$;

-- An ambiguous row SparkPost has no event for, although the events have been read
-- without a gap from before its send until p_grace_seconds after it, was not
-- accepted: its kind becomes 'not_accepted' and its error 'not accepted: ...'
-- (retry-failed requeues it without --include-ambiguous; it stays failed, so no
-- counter moves). Returns how many rows
-- were settled so.
create or replace function cr_events_settle_unseen(p_grace_seconds int, p_now timestamptz)
returns int
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_position cr_events_position;
    v_count int;
begin
    select * into v_position from cr_events_position where stream = 'sparkpost';
    if v_position.read_to is null or v_position.read_since is null then
        return 0;
    end if;
    with unseen as (
        update email_queue q
        set failure_kind = 'not_accepted',
            error = format(
                'not accepted: SparkPost reported no event for this message in the %s '
                'minutes after its send (events read from %s to %s; it was %s)',
                p_grace_seconds / 60, v_position.read_since, v_position.read_to, q.error),
            settled_note = 'settled as not sent: no SparkPost event by '
                           || v_position.read_to,
            updated_at = p_now
        where q.status = 'failed' and q.failure_kind = 'ambiguous'
          and q.send_started_at >= v_position.read_since
          and q.send_started_at + make_interval(secs => p_grace_seconds) <= v_position.read_to
          and not exists (select 1 from email_events e where e.email_id = q.id)
          and (q.provider_message_id is null or not exists (
                   select 1 from email_events e where e.transmission_id = q.provider_message_id))
        returning 1
    )
    select count(*) into v_count from unseen;
    return v_count;
end
$$;

-- The hard bounce classes (events/rules.py HARD_BOUNCE_CLASSES): Invalid Recipient,
-- No RCPT, Unsubscribe. The others are "usually temporary".
create or replace function cr_hard_bounce(p_class int) returns boolean
language sql immutable
as $$ select coalesce(p_class in (10, 30, 90), false) $$;

-- The events' figures of every campaign, for `status` beside cr_campaign_status_v2:
-- its counters, and its ambiguous rows settled as sent (settled_note), still in
-- doubt, and confirmed not accepted.
create or replace function cr_events_status() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', c.id, 'delivered', c.delivered_count, 'opened', c.opened_count,
               'clicked', c.clicked_count, 'bounced', c.bounced_count,
               'complained', c.complained_count, 'unsubscribed', c.unsubscribed_count,
               'settled_sent', coalesce(r.settled_sent, 0),
               'ambiguous_pending', coalesce(r.pending, 0),
               'not_accepted', coalesce(r.not_accepted, 0))
           order by c.id), '[]'::jsonb)
    from campaigns c
    left join (
        select q.campaign_id,
               count(*) filter (where q.status = 'sent') as settled_sent,
               count(*) filter (where q.status = 'failed' and q.failure_kind = 'ambiguous')
                   as pending,
               count(*) filter (where q.status = 'failed' and q.failure_kind = 'not_accepted')
                   as not_accepted
        from email_queue q
        where q.settled_note is not null or q.failure_kind in ('ambiguous', 'not_accepted')
        group by q.campaign_id) r on r.campaign_id = c.id
$$;

-- As cr_campaign_status_v2 (kept for the previous version), each campaign with the
-- keys of its cr_events_status entry too.
create or replace function cr_campaign_status_v3(
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(s.value || coalesce(f.value - 'campaign_id', '{}'::jsonb)
                              order by s.n), '[]'::jsonb)
    from jsonb_array_elements(cr_campaign_status_v2(p_now, p_min_interval_seconds,
                                                    p_daily_cap, p_day_start))
         with ordinality as s(value, n)
    left join jsonb_array_elements(cr_events_status()) as f(value)
           on f.value ->> 'campaign_id' = s.value ->> 'campaign_id'
$$;

-- cr_roll_up_guarded (0005, kept for the previous version) with the guard judging
-- what comes back. Rows count from the campaign's start or from when an operator
-- resumed it (guard_reset_at), by send_started_at. A `sending` campaign with rows
-- still queued is paused when
-- - hard bounces (refused at sending, `rejected`, plus bounce events of the hard
--   classes) pass p_pause_rate of its delivered-or-bounced rows, judged on at least
--   p_min_sends. Until SparkPost has reported on any of its sends (no events read,
--   or the outbox) that is sends plus refusals, as 0005 judges; after, only rows
--   it reported on, and refusals up to the last send it reported on, so that
--   refusals, known at once, are not weighed against deliveries not yet read;
-- - complaints pass p_complaint_rate of its delivered rows, judged on at least
--   p_complaint_min delivered.
-- Returns the campaigns paused now, as cr_roll_up_guarded.
create or replace function cr_roll_up_guarded_v2(
    p_now timestamptz,
    p_pause_rate double precision,
    p_min_sends int,
    p_complaint_rate double precision,
    p_complaint_min int
) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_ids uuid[];
    v_paused jsonb := '[]'::jsonb;
begin
    select array_agg(live.id order by live.id) into v_ids
    from (select id from campaigns
          where status in ('sending', 'paused', 'cancelled')
             or (status = 'scheduled' and paused_reason is not null)
          order by id
          for update) live;

    update campaigns
    set paused_reason = null, guard_reset_at = p_now
    where id = any(v_ids) and cr_claimable(status) and paused_reason is not null;

    perform cr_roll_up(p_now);

    if p_pause_rate < 1 or p_complaint_rate < 1 then
        with counted as (
            select c.id,
                   count(*) filter (where q.status = 'sent') as sent,
                   count(*) filter (where q.status = 'failed' and q.failure_kind = 'rejected')
                       as refused,
                   count(*) filter (where q.status = 'sent'
                                      and (q.delivered_at is not null
                                           or q.bounced_at is not null)) as reported,
                   count(*) filter (where q.status = 'sent' and cr_hard_bounce(q.bounce_class))
                       as bounced,
                   count(*) filter (where q.delivered_at is not null) as delivered,
                   count(*) filter (where q.complained_at is not null) as complained,
                   max(q.send_started_at) filter (where q.status = 'sent'
                                                    and (q.delivered_at is not null
                                                         or q.bounced_at is not null))
                       as last_reported
            from campaigns c
            join email_queue q on q.campaign_id = c.id
            where c.id = any(v_ids) and c.status = 'sending'
              and coalesce(q.send_started_at, q.updated_at)
                  >= coalesce(c.guard_reset_at, '-infinity')
              and exists (select 1 from email_queue w
                          where w.campaign_id = c.id and w.status = 'queued')
            group by c.id
        ),
        judged as materialized (
            select n.*,
                   case when n.reported = 0 then n.refused
                        else (select count(*) from email_queue q, campaigns c
                              where c.id = n.id and q.campaign_id = n.id
                                and q.status = 'failed' and q.failure_kind = 'rejected'
                                and coalesce(q.send_started_at, q.updated_at)
                                    >= coalesce(c.guard_reset_at, '-infinity')
                                and coalesce(q.send_started_at, q.updated_at)
                                    <= n.last_reported) end as refused_judged
            from counted n
        ),
        verdict as (
            select j.id,
                   case when j.reported = 0 then j.sent + j.refused
                        else j.reported + j.refused_judged end as judged,
                   j.refused_judged + j.bounced as hard,
                   j.refused_judged, j.bounced, j.delivered, j.complained, j.reported
            from judged j
        ),
        paused as (
            update campaigns c
            set status = 'paused',
                paused_reason = case
                    when p_pause_rate < 1 and v.judged >= p_min_sends
                         and v.hard > p_pause_rate * v.judged and v.reported = 0
                        then format('bounce guard: the provider rejected %s of %s recipients, '
                                    'more than BOUNCE_PAUSE_RATE allows', v.hard, v.judged)
                    when p_pause_rate < 1 and v.judged >= p_min_sends
                         and v.hard > p_pause_rate * v.judged
                        then format('bounce guard: %s of %s recipients bounced hard (%s refused '
                                    'at sending, %s bounced later), more than BOUNCE_PAUSE_RATE '
                                    'allows', v.hard, v.judged, v.refused_judged, v.bounced)
                    else format('complaint guard: %s of %s delivered recipients marked it as '
                                'spam, more than COMPLAINT_PAUSE_RATE allows',
                                v.complained, v.delivered) end,
                updated_at = p_now
            from verdict v
            where c.id = v.id
              and ((p_pause_rate < 1 and v.judged >= p_min_sends
                    and v.hard > p_pause_rate * v.judged)
                   or (p_complaint_rate < 1 and v.delivered >= p_complaint_min
                       and v.complained > p_complaint_rate * v.delivered))
            returning c.id, c.name, c.paused_reason
        )
        select coalesce(jsonb_agg(jsonb_build_object(
                   'campaign_id', id, 'campaign_name', name, 'reason', paused_reason)
                   order by id), '[]'::jsonb)
        into v_paused
        from paused;
    end if;

    return v_paused;
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (6, '0006_events.sql')
on conflict (version) do nothing;
