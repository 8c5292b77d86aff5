-- Failure kinds as data, pacing that counts sends, and why queued rows wait.
-- Additive and idempotent like 0001-0004: every function a worker of the previous
-- version calls keeps its signature and its meaning (cr_finish now also writes the
-- kind, read from the prefix that version gives its error text); the calls whose
-- arguments change are new functions with a version suffix.

-- What kind of failure `error` describes (the set is documented in
-- docs/architecture.md, "Failure kinds"); null while the row has no error.
alter table email_queue add column if not exists failure_kind text;
do $$
begin
    if not exists (select 1 from pg_constraint
                   where conname = 'email_queue_failure_kind_known'
                     and conrelid = 'email_queue'::regclass) then
        alter table email_queue add constraint email_queue_failure_kind_known
            check (failure_kind in ('rejected', 'ambiguous', 'invalid', 'suppressed',
                                    'content', 'campaign_gone', 'transient', 'system',
                                    'interrupted'));
    end if;
end
$$;

-- A claim's time before the last one per sending domain: a claimed row that ends
-- before anything left gives its domain's slot back by restoring it.
alter table domain_pacing add column if not exists previous_claimed_at timestamptz;

-- The campaign statuses whose queued rows a claim takes (models.CLAIMABLE_CAMPAIGN_STATUSES);
-- null, a campaign that is gone, is taken too so that the pipeline fails its rows. The
-- argument is read once, so the planner inlines the call wherever it is used.
create or replace function cr_claimable(p_campaign_status text) returns boolean
language sql immutable
as $$ select coalesce(p_campaign_status, 'scheduled') in ('scheduled', 'sending') $$;

-- The kind of an error written by a worker that does not pass one (before 0005), from
-- the prefix its text starts with; what no prefix names is a content failure when it
-- failed the row, and a transient one when it put the row back.
create or replace function cr_failure_kind_of(p_status text, p_error text) returns text
language sql immutable
as $$
    select case
        when p_error is null or p_status = 'sent' then null
        when p_error like 'rejected:%' then 'rejected'
        when p_error like 'ambiguous:%' then 'ambiguous'
        when p_error like 'system:%' then 'system'
        when p_error like 'released:%' or p_error like 'recovered:%'
             or p_error like 'worker stopped while processing this row%' then 'interrupted'
        when p_error like 'gave up after %' then 'transient'
        when p_error like 'recipient % is on the suppression list' then 'suppressed'
        when p_error like 'to\_email %' then 'invalid'
        when p_error like 'campaign % no longer exists' then 'campaign_gone'
        when p_status = 'queued' then 'transient'
        else 'content' end
$$;

update email_queue
set failure_kind = cr_failure_kind_of(status, error)
where failure_kind is null and error is not null and status <> 'sent';

-- cr_finish with the failure kind. A row that ends before send_started_at (nothing
-- left) gives back what its claim took of its sending domain's pacing: the day's
-- unit, when the domain's day is still the one it was claimed on, and the interval's
-- slot, when no later claim of the domain has taken it since (last_claimed_at is
-- still this row's claim time, locked_at): the domain's last claim is then again the
-- one before, which did or may have sent.
create or replace function cr_finish_v2(
    p_id uuid,
    p_worker text,
    p_now timestamptz,
    p_status text,
    p_error text,
    p_failure_kind text,
    p_provider_message_id text,
    p_retry_at timestamptz,
    p_give_back boolean
) returns boolean
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_row email_queue%rowtype;
begin
    select * into v_row from email_queue
    where id = p_id and status = 'processing' and locked_by = p_worker
    for update;
    if not found then
        return false;
    end if;

    update email_queue
    set status = p_status,
        error = p_error,
        failure_kind = p_failure_kind,
        provider_message_id = coalesce(p_provider_message_id, provider_message_id),
        sent_at = case when p_status = 'sent' then p_now else sent_at end,
        scheduled_for = case when p_status = 'queued' then coalesce(p_retry_at, scheduled_for)
                             else scheduled_for end,
        attempts = case when p_give_back then greatest(attempts - 1, 0) else attempts end,
        send_started_at = case when p_status = 'queued' then null else send_started_at end,
        locked_by = case when p_status = 'queued' then null else locked_by end,
        locked_at = case when p_status = 'queued' then null else locked_at end,
        updated_at = p_now
    where id = p_id;

    if v_row.send_started_at is null and p_status <> 'sent' then
        update domain_pacing p
        set day_count = case when p.day_start <= v_row.locked_at
                             then greatest(p.day_count - 1, 0) else p.day_count end,
            last_claimed_at = case when p.last_claimed_at = v_row.locked_at
                                   then coalesce(p.previous_claimed_at, '-infinity')
                                   else p.last_claimed_at end
        where p.domain = cr_sending_domain(v_row.from_email);
    end if;
    return true;
end
$$;

-- The signature a worker before 0005 calls: its error text carries the kind.
create or replace function cr_finish(
    p_id uuid,
    p_worker text,
    p_now timestamptz,
    p_status text,
    p_error text,
    p_provider_message_id text,
    p_retry_at timestamptz,
    p_give_back boolean
) returns boolean
language sql
set search_path = public, pg_temp
as $$
    select cr_finish_v2(p_id, p_worker, p_now, p_status, p_error,
                        cr_failure_kind_of(p_status, p_error), p_provider_message_id,
                        p_retry_at, p_give_back)
$$;

-- As 0002's, with the kind beside each error; a row recovered before its send started
-- gives back its unit of the day its domain is on, if it was claimed on that day.
create or replace function cr_recover_stale(
    p_cutoff timestamptz,
    p_max_attempts int,
    p_now timestamptz
) returns jsonb
language sql
set search_path = public, pg_temp
as $$
    with stale as (
        select id, cr_sending_domain(from_email) as domain, locked_at,
               send_started_at is null as unsent
        from email_queue
        where status = 'processing' and locked_at < p_cutoff
        order by id
        for update skip locked
    ),
    given_back as (
        update domain_pacing p
        set day_count = greatest(p.day_count - (select count(*) from stale s
                                                where s.unsent and s.domain = p.domain
                                                  and s.locked_at >= p.day_start), 0)
        where p.domain in (select s.domain from stale s where s.unsent)
    ),
    recovered as (
        update email_queue q
        set status = case
                when q.send_started_at is not null then 'failed'
                when q.attempts >= p_max_attempts then 'failed'
                else 'queued' end,
            error = case
                when q.send_started_at is not null
                    then 'ambiguous: interrupted during send (worker '
                         || coalesce(q.locked_by, '?')
                         || ' stopped after the send started; it may have been delivered)'
                when q.attempts >= p_max_attempts
                    then 'worker stopped while processing this row ' || q.attempts || ' times'
                else 'recovered: worker ' || coalesce(q.locked_by, '?')
                     || ' stopped before sending' end,
            failure_kind = case when q.send_started_at is not null then 'ambiguous'
                                else 'interrupted' end,
            locked_by = case when q.send_started_at is null and q.attempts < p_max_attempts
                             then null else q.locked_by end,
            locked_at = case when q.send_started_at is null and q.attempts < p_max_attempts
                             then null else q.locked_at end,
            updated_at = p_now
        from stale
        where q.id = stale.id
        returning q.status
    )
    select jsonb_build_object(
        'queued', count(*) filter (where status = 'queued'),
        'failed', count(*) filter (where status = 'failed'))
    from recovered
$$;

-- As 0003's, reading the kind.
create or replace function cr_failed_kinds(p_campaign_id uuid)
returns table (id uuid, kind text)
language sql stable
set search_path = public, pg_temp
as $$
    select q.id,
           case when exists (select 1 from suppressions s
                             where s.email = lower(trim(q.to_email))) then 'suppressed'
                when q.failure_kind = 'ambiguous' then 'ambiguous'
                else 'retryable' end
    from email_queue q
    where q.campaign_id = p_campaign_id and q.status = 'failed'
$$;

-- As 0003's, clearing the kind with the error.
create or replace function cr_retry_failed(
    p_campaign_id text,
    p_include_ambiguous boolean,
    p_now timestamptz
) returns int
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_id uuid := cr_campaign_uuid(p_campaign_id);
    v_count int;
begin
    with requeued as (
        update email_queue q
        set status = 'queued', attempts = 0, error = null, failure_kind = null,
            locked_by = null, locked_at = null, send_started_at = null, scheduled_for = p_now,
            updated_at = p_now
        from cr_failed_kinds(v_id) k
        where q.id = k.id and q.status = 'failed'
          and (k.kind = 'retryable' or (p_include_ambiguous and k.kind = 'ambiguous'))
        returning 1
    )
    select count(*) into v_count from requeued;
    if v_count > 0 then
        update campaigns
        set status = 'sending', completed_at = null, updated_at = p_now
        where id = v_id and status = 'completed';
    end if;
    return v_count;
end
$$;

-- As 0003's, the guard counting rows failed as `rejected`.
create or replace function cr_roll_up_guarded(
    p_now timestamptz,
    p_pause_rate double precision,
    p_min_sends int
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

    if p_pause_rate < 1 then
        with rejections as (
            select c.id, c.guard_reset_at, c.sent_count,
                   (select count(*) from email_queue q
                    where q.campaign_id = c.id and q.status = 'failed'
                      and q.failure_kind = 'rejected'
                      and q.updated_at >= coalesce(c.guard_reset_at, '-infinity')) as rejected
            from campaigns c
            where c.id = any(v_ids) and c.status = 'sending'
        ),
        judged as materialized (
            select r.id, r.rejected,
                   case when r.guard_reset_at is null then r.sent_count
                        else (select count(*) from email_queue q
                              where q.campaign_id = r.id and q.status = 'sent'
                                and q.sent_at >= r.guard_reset_at) end as sent
            from rejections r
            where r.rejected > 0
              and exists (select 1 from email_queue q
                          where q.campaign_id = r.id and q.status = 'queued')
        ),
        paused as (
            update campaigns c
            set status = 'paused',
                paused_reason = format(
                    'bounce guard: the provider rejected %s of %s recipients, '
                    'more than BOUNCE_PAUSE_RATE allows', j.rejected, j.sent + j.rejected),
                updated_at = p_now
            from judged j
            where c.id = j.id
              and j.sent + j.rejected >= p_min_sends
              and j.rejected > p_pause_rate * (j.sent + j.rejected)
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

-- Every queued row and why it waits at p_now under this pacing, as the claim judges
-- it: 'campaign_<status>' (the campaign is not scheduled or sending), 'scheduled'
-- (its time has not come), 'daily_cap', 'domain_paced' (its sending domain's
-- interval, or its turn behind earlier rows of the domain), 'suppressed' (due, and
-- failed when claimed) or 'due'. `until` is when it may go: its time, or its turn
-- under the interval; null when nothing here knows (a campaign, the cap's day).
create or replace function cr_queued_reasons(
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns table (id uuid, campaign_id uuid, scheduled_for timestamptz, reason text,
                 until timestamptz)
language sql stable
set search_path = public, pg_temp
as $$
    with queued as (
        select q.id, q.campaign_id, q.scheduled_for, c.status as campaign_status,
               cr_sending_domain(q.from_email) as domain,
               exists (select 1 from suppressions s
                       where s.email = lower(trim(q.to_email))) as suppressed
        from email_queue q
        left join campaigns c on c.id = q.campaign_id
        where q.status = 'queued'
    ),
    due as (
        select k.id,
               row_number() over (partition by k.domain order by k.scheduled_for, k.id) as n,
               case when p.day_start is not distinct from p_day_start
                    then p.day_count else 0 end as used,
               greatest(coalesce(p.last_claimed_at, '-infinity')
                        + make_interval(secs => coalesce(p_min_interval_seconds, 0)),
                        p_now) as first_turn
        from queued k
        left join domain_pacing p on p.domain = k.domain
        where k.scheduled_for <= p_now and cr_claimable(k.campaign_status)
    ),
    judged as (
        select k.id, k.campaign_id, k.scheduled_for,
               case when coalesce(p_min_interval_seconds, 0) > 0
                    then d.first_turn
                         + make_interval(secs => p_min_interval_seconds * (d.n - 1))
                    else p_now end as turn,
               case when not cr_claimable(k.campaign_status)
                        then 'campaign_' || k.campaign_status
                    when k.scheduled_for > p_now then 'scheduled'
                    when coalesce(p_daily_cap, 0) > 0 and d.used + d.n > p_daily_cap
                        then 'daily_cap'
                    when coalesce(p_min_interval_seconds, 0) > 0
                         and d.first_turn
                             + make_interval(secs => p_min_interval_seconds * (d.n - 1)) > p_now
                        then 'domain_paced'
                    when k.suppressed then 'suppressed'
                    else 'due' end as reason
        from queued k
        left join due d on d.id = k.id
    )
    select j.id, j.campaign_id, j.scheduled_for, j.reason,
           case j.reason when 'scheduled' then j.scheduled_for
                         when 'domain_paced' then j.turn end
    from judged j
$$;

-- What a claim with this pacing would take, changing nothing (for --dry-run).
-- cr_peek_due (0002) stays for workers of the previous version.
create or replace function cr_peek_due_v2(
    p_limit int,
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select cr_rows_json(array(
        select r.id
        from cr_queued_reasons(p_now, p_min_interval_seconds, p_daily_cap, p_day_start) r
        where r.reason in ('due', 'suppressed')
        order by r.scheduled_for, r.id
        limit p_limit))
$$;

-- As cr_campaign_status (0003, kept for the previous version, now reading the kinds),
-- with pacing: `due_now` counts only what a claim would take at p_now, and `waiting`
-- groups every other queued row by why it waits: {reason: {rows, until}}, `until`
-- the earliest of the group's times (see cr_queued_reasons). `failed_by_kind` counts
-- failed rows by failure_kind.
create or replace function cr_campaign_status_v2(
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with by_status as (
        select q.campaign_id, q.status, count(*) as n,
               min(q.scheduled_for) filter (where q.status = 'queued'
                                              and q.scheduled_for > p_now) as next_at,
               count(*) filter (where q.failure_kind = 'ambiguous' and q.status = 'failed')
                   as ambiguous,
               count(*) filter (where q.failure_kind = 'rejected' and q.status = 'failed')
                   as rejected
        from email_queue q
        group by q.campaign_id, q.status
    ),
    per_campaign as (
        select campaign_id, jsonb_object_agg(status, n) as rows, min(next_at) as next_at,
               sum(ambiguous) as ambiguous, sum(rejected) as rejected
        from by_status
        group by campaign_id
    ),
    reasons as (
        select r.campaign_id, r.reason, count(*) as n, min(r.until) as until
        from cr_queued_reasons(p_now, p_min_interval_seconds, p_daily_cap, p_day_start) r
        group by r.campaign_id, r.reason
    ),
    waiting as (
        select campaign_id,
               sum(n) filter (where reason in ('due', 'suppressed')) as due_now,
               jsonb_object_agg(reason, jsonb_build_object('rows', n, 'until', until))
                   filter (where reason <> 'due') as waiting
        from reasons
        group by campaign_id
    ),
    kinds as (
        select q.campaign_id, jsonb_object_agg(q.failure_kind, q.n) as failed_by_kind
        from (select campaign_id, failure_kind, count(*) as n from email_queue
              where status = 'failed' and failure_kind is not null
              group by campaign_id, failure_kind) q
        group by q.campaign_id
    ),
    last_error as (
        select distinct on (q.campaign_id) q.campaign_id, q.error, q.updated_at
        from email_queue q
        where q.error is not null
        order by q.campaign_id, q.updated_at desc, q.id desc
    )
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', p.campaign_id, 'campaign_name', c.name,
               'campaign_status', c.status, 'rows', p.rows,
               'due_now', coalesce(w.due_now, 0), 'next_scheduled_for', p.next_at,
               'ambiguous', p.ambiguous, 'rejected', p.rejected, 'last_error', e.error,
               'last_error_at', e.updated_at, 'paused_reason', c.paused_reason,
               'waiting', coalesce(w.waiting, '{}'::jsonb),
               'failed_by_kind', coalesce(k.failed_by_kind, '{}'::jsonb))
           order by c.name nulls first, p.campaign_id), '[]'::jsonb)
    from per_campaign p
    left join campaigns c on c.id = p.campaign_id
    left join waiting w on w.campaign_id = p.campaign_id
    left join kinds k on k.campaign_id = p.campaign_id
    left join last_error e on e.campaign_id = p.campaign_id
$$;

-- The previous version's status, reading the kinds (its extra keys are ignored by
-- the readers of that version).
create or replace function cr_campaign_status(p_now timestamptz) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$ select cr_campaign_status_v2(p_now, 0, 0, null) $$;

-- As 0004's, recording the claim before the last per domain (previous_claimed_at)
-- and asking cr_claimable which campaigns are live. Same signature.
create or replace function cr_claim(
    p_worker text,
    p_limit int,
    p_now timestamptz,
    p_min_interval_seconds int,
    p_daily_cap int,
    p_day_start timestamptz
) returns jsonb
language plpgsql
set search_path = public, pg_temp
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
            order by q.scheduled_for, q.id
            limit p_limit
            for update of q skip locked
        ) picked;
    else
        -- The plain claim: the partial index in due order, the LIMIT, SKIP LOCKED.
        select array_agg(picked.id) into v_ids
        from (
            select q.id
            from email_queue q
            left join campaigns c on c.id = q.campaign_id
            where q.status = 'queued' and q.scheduled_for <= p_now
              and cr_claimable(c.status)
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

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (5, '0005_failure_kinds.sql')
on conflict (version) do nothing;
