-- The queue's logic, written once: the `postgres` store calls these functions with
-- psycopg and the `supabase` store over PostgREST RPC (PostgREST cannot lock rows
-- any other way). The semantics are those of the embedded store
-- (campaign_runner/sql/sqlite/queries.sql); the store contract suite holds all
-- of them to it. Every write that ends a row is guarded by "still `processing` and
-- locked by this worker".

-- What pacing is keyed on; '' when there is no domain, so such a row is still
-- claimed (and failed by the pipeline) rather than stuck.
create or replace function cr_sending_domain(p_from_email text) returns text
language sql immutable
as $$ select coalesce(lower(split_part(p_from_email, '@', 2)), '') $$;

-- Rows as the adapters' `email_from_row` reads them: the row, its campaign as
-- c_<column> (all null when the campaign is gone), and whether it is suppressed.
create or replace function cr_rows_json(p_ids uuid[]) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'id', q.id, 'campaign_id', q.campaign_id, 'to_email', q.to_email,
               'to_name', q.to_name, 'from_email', q.from_email, 'subject', q.subject,
               'body', q.body, 'metadata', q.metadata, 'attempts', q.attempts,
               'scheduled_for', q.scheduled_for,
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

-- Atomically move due rows `queued -> processing`, never one twice, however many
-- workers claim at once. Due: queued, scheduled_for <= p_now, campaign scheduled or
-- sending (or gone). With pacing on, each sending domain gets at most one row per
-- claim (p_min_interval_seconds > 0) and only once that interval has passed since its
-- last claim, and never more than p_daily_cap rows on p_day_start's day.
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
    v_ids uuid[];
begin
    if v_interval > 0 or v_cap > 0 then
        -- Every domain with due work gets a pacing row, so that it can be locked below.
        insert into domain_pacing (domain, day_start)
        select distinct cr_sending_domain(q.from_email), p_day_start
        from email_queue q
        left join campaigns c on c.id = q.campaign_id
        where q.status = 'queued' and q.scheduled_for <= p_now
          and (c.id is null or c.status in ('scheduled', 'sending'))
        order by 1
        on conflict (domain) do nothing;

        -- A domain's pacing row is locked for the rest of the claim, and a domain
        -- locked by a concurrent claim is skipped: two workers can never both take
        -- the same domain's slot. The final SELECT re-checks `status` and the due
        -- time on the row it locks, so a row claimed meanwhile is never taken twice.
        with allowance as materialized (
            select p.domain,
                   case when v_cap > 0
                        then v_cap - case when p.day_start is not distinct from p_day_start
                                          then p.day_count else 0 end
                        else p_limit end as room
            from domain_pacing p
            where p.domain in (select cr_sending_domain(q.from_email)
                               from email_queue q
                               where q.status = 'queued' and q.scheduled_for <= p_now)
              and (v_interval = 0
                   or p.last_claimed_at <= p_now - make_interval(secs => v_interval))
              and (v_cap = 0 or p.day_start is distinct from p_day_start
                   or p.day_count < v_cap)
            for update skip locked
        ),
        ranked as (
            select q.id,
                   case when v_interval > 0 then least(a.room, 1) else a.room end as room,
                   row_number() over (partition by a.domain
                                      order by q.scheduled_for, q.id) as n
            from email_queue q
            join allowance a on a.domain = cr_sending_domain(q.from_email)
            left join campaigns c on c.id = q.campaign_id
            where q.status = 'queued' and q.scheduled_for <= p_now
              and (c.id is null or c.status in ('scheduled', 'sending'))
        )
        select array_agg(picked.id) into v_ids
        from (
            select q.id
            from email_queue q
            join ranked r on r.id = q.id and r.n <= r.room
            where q.status = 'queued' and q.scheduled_for <= p_now
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
              and (c.id is null or c.status in ('scheduled', 'sending'))
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

-- What a claim with pacing off would take, changing nothing (for --dry-run).
create or replace function cr_peek_due(p_limit int, p_now timestamptz) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select cr_rows_json(array(
        select q.id
        from email_queue q
        left join campaigns c on c.id = q.campaign_id
        where q.status = 'queued' and q.scheduled_for <= p_now
          and (c.id is null or c.status in ('scheduled', 'sending'))
        order by q.scheduled_for, q.id
        limit p_limit))
$$;

-- Only the owner of the lease may send; generated content is saved in the same
-- write, so what is recorded is exactly what leaves.
create or replace function cr_start_send(
    p_id uuid,
    p_worker text,
    p_now timestamptz,
    p_subject text,
    p_body text,
    p_model text,
    p_prompt_tokens int,
    p_completion_tokens int
) returns boolean
language plpgsql
set search_path = public, pg_temp
as $$
begin
    update email_queue
    set send_started_at = p_now, updated_at = p_now,
        subject = case when p_model is null then subject else p_subject end,
        body = case when p_model is null then body else p_body end,
        generated_at = case when p_model is null then generated_at else p_now end,
        generation_model = coalesce(p_model, generation_model),
        prompt_tokens = coalesce(p_prompt_tokens, prompt_tokens),
        completion_tokens = coalesce(p_completion_tokens, completion_tokens)
    where id = p_id and status = 'processing' and locked_by = p_worker;
    return found;
end
$$;

-- Write a row's outcome: sent, failed, or queued again (at p_retry_at, with the
-- attempt given back when it was the system's fault, not the row's).
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
language plpgsql
set search_path = public, pg_temp
as $$
begin
    update email_queue
    set status = p_status,
        error = p_error,
        provider_message_id = coalesce(p_provider_message_id, provider_message_id),
        sent_at = case when p_status = 'sent' then p_now else sent_at end,
        scheduled_for = case when p_status = 'queued' then coalesce(p_retry_at, scheduled_for)
                             else scheduled_for end,
        attempts = case when p_give_back then greatest(attempts - 1, 0) else attempts end,
        send_started_at = case when p_status = 'queued' then null else send_started_at end,
        locked_by = case when p_status = 'queued' then null else locked_by end,
        locked_at = case when p_status = 'queued' then null else locked_at end,
        updated_at = p_now
    where id = p_id and status = 'processing' and locked_by = p_worker;
    return found;
end
$$;

-- A lease that ran out belongs to a worker that died. Before send_started_at
-- nothing left, so the row is queued again (unless it has used up its attempts,
-- which means it keeps killing workers); after it, nobody knows: failed, ambiguous.
create or replace function cr_recover_stale(
    p_cutoff timestamptz,
    p_max_attempts int,
    p_now timestamptz
) returns jsonb
language sql
set search_path = public, pg_temp
as $$
    with stale as (
        select id from email_queue
        where status = 'processing' and locked_at < p_cutoff
        order by id
        for update skip locked
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

-- Recount the live campaigns; `sending -> completed` once nothing of the campaign
-- is left queued or processing. Campaigns are locked in id order, so that two
-- workers rolling up at once cannot deadlock.
create or replace function cr_roll_up(p_now timestamptz) returns void
language sql
set search_path = public, pg_temp
as $$
    update campaigns c
    set sent_count = (select count(*) from email_queue q
                      where q.campaign_id = c.id and q.status = 'sent'),
        failed_count = (select count(*) from email_queue q
                        where q.campaign_id = c.id and q.status = 'failed'),
        completed_at = case
            when c.status = 'sending' and not exists (
                select 1 from email_queue q
                where q.campaign_id = c.id and q.status in ('queued', 'processing'))
            then p_now else c.completed_at end,
        status = case
            when c.status = 'sending' and not exists (
                select 1 from email_queue q
                where q.campaign_id = c.id and q.status in ('queued', 'processing'))
            then 'completed' else c.status end,
        updated_at = p_now
    from (select id from campaigns
          where status in ('sending', 'paused', 'cancelled')
          order by id
          for update) live
    where c.id = live.id
$$;

-- Rows per campaign and status, for `campaign-runner status`.
create or replace function cr_status() returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', s.campaign_id, 'campaign_name', s.name,
               'campaign_status', s.campaign_status, 'status', s.status, 'count', s.n)
           order by s.name nulls first, s.campaign_id, s.status), '[]'::jsonb)
    from (select q.campaign_id, c.name, c.status as campaign_status, q.status, count(*) as n
          from email_queue q
          left join campaigns c on c.id = q.campaign_id
          group by q.campaign_id, c.name, c.status, q.status) s
$$;

-- PostgREST exposes every function in `public` to every role that may execute
-- it, and functions are executable by PUBLIC by default: these claim and rewrite
-- the queue, so only their owner and Supabase's service role may call them.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_proc p
        where p.pronamespace = 'public'::regnamespace and p.proname like 'cr\_%'
    loop
        execute format('revoke execute on function %s from public', fn);
        if exists (select 1 from pg_roles where rolname = 'anon') then
            execute format('revoke execute on function %s from anon', fn);
        end if;
        if exists (select 1 from pg_roles where rolname = 'authenticated') then
            execute format('revoke execute on function %s from authenticated', fn);
        end if;
        if exists (select 1 from pg_roles where rolname = 'service_role') then
            execute format('grant execute on function %s to service_role', fn);
        end if;
    end loop;
end
$$;

insert into cr_schema_migrations (version, name) values (2, '0002_functions.sql')
on conflict (version) do nothing;
