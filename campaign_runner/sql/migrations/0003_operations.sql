-- Operating the queue: the bounce guard, `campaign-runner status` and
-- `campaign-runner retry-failed`. Additive and idempotent, like 0001 and 0002:
-- nothing of theirs is changed or dropped, so a worker of the previous version
-- (which calls cr_roll_up and cr_status) keeps working while the new one rolls out.

-- Why the bounce guard paused a campaign, for `status` and the frontend; cleared
-- when someone resumes the campaign, which also starts the guard's count afresh
-- from that moment (guard_reset_at), so a resumed campaign is not paused again
-- at once for the rejections that paused it.
alter table campaigns
    add column if not exists paused_reason text,
    add column if not exists guard_reset_at timestamptz;

-- A campaign id typed by a person: its uuid, or null when it is not one, so that
-- a typo reads as "no such campaign" rather than as a database error.
create or replace function cr_campaign_uuid(p_id text) returns uuid
language plpgsql immutable
set search_path = public, pg_temp
as $$
begin
    return p_id::uuid;
exception when invalid_text_representation then
    return null;
end
$$;

-- A campaign's failed rows, each with what `retry-failed` may do with it: a
-- recipient suppressed since is never requeued ('suppressed'); a row that may have
-- been delivered only when asked to ('ambiguous'); any other ('retryable').
create or replace function cr_failed_kinds(p_campaign_id uuid)
returns table (id uuid, kind text)
language sql stable
set search_path = public, pg_temp
as $$
    select q.id,
           case when exists (select 1 from suppressions s
                             where s.email = lower(trim(q.to_email))) then 'suppressed'
                when q.error like 'ambiguous:%' then 'ambiguous'
                else 'retryable' end
    from email_queue q
    where q.campaign_id = p_campaign_id and q.status = 'failed'
$$;

-- cr_roll_up, then the bounce guard. A permanently rejected recipient is a row
-- failed with an error starting `rejected:` (the provider refused the address; see
-- RecipientRejected in errors.py). A `sending` campaign with rows still queued is
-- paused once more than p_pause_rate of its sends (sent + rejected, counted since
-- guard_reset_at) were rejected, judged on at least p_min_sends of them. Returns
-- the campaigns paused by this call, as [{campaign_id, campaign_name, reason}].
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
    -- Every campaign this call may change, locked in id order (as cr_roll_up locks
    -- them), so that two workers rolling up at once cannot deadlock.
    select array_agg(live.id order by live.id) into v_ids
    from (select id from campaigns
          where status in ('sending', 'paused', 'cancelled')
             or (status = 'scheduled' and paused_reason is not null)
          order by id
          for update) live;

    -- Resumed after the guard paused it: judge only what is sent from now on.
    update campaigns
    set paused_reason = null, guard_reset_at = p_now
    where id = any(v_ids) and status in ('scheduled', 'sending') and paused_reason is not null;

    -- The recount first: a campaign it completes has nothing left to pause, and the
    -- guard reuses its sent_count.
    perform cr_roll_up(p_now);

    if p_pause_rate < 1 then
        -- Rejections are few and found through the (campaign_id, status) index; the
        -- sends are counted only for a campaign that has some.
        with rejections as (
            select c.id, c.guard_reset_at, c.sent_count,
                   (select count(*) from email_queue q
                    where q.campaign_id = c.id and q.status = 'failed'
                      and q.error like 'rejected:%'
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

-- One object per campaign that has rows (or whose rows outlived it), for
-- `campaign-runner status`: rows by status, queued rows due at p_now, the next
-- queued row's time, failed rows that may have been delivered (`ambiguous:`) or
-- whose recipient was refused (`rejected:`), the last error written, and why the
-- bounce guard paused it. cr_status (0002) stays for workers of the previous version.
create or replace function cr_campaign_status(p_now timestamptz) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    with by_status as (
        select q.campaign_id, q.status, count(*) as n,
               count(*) filter (where q.status = 'queued' and q.scheduled_for <= p_now)
                   as due_now,
               min(q.scheduled_for) filter (where q.status = 'queued'
                                              and q.scheduled_for > p_now) as next_at,
               count(*) filter (where q.status = 'failed' and q.error like 'ambiguous:%')
                   as ambiguous,
               count(*) filter (where q.status = 'failed' and q.error like 'rejected:%')
                   as rejected
        from email_queue q
        group by q.campaign_id, q.status
    ),
    per_campaign as (
        select campaign_id, jsonb_object_agg(status, n) as rows, sum(due_now) as due_now,
               min(next_at) as next_at, sum(ambiguous) as ambiguous, sum(rejected) as rejected
        from by_status
        group by campaign_id
    ),
    last_error as (
        select distinct on (q.campaign_id) q.campaign_id, q.error, q.updated_at
        from email_queue q
        where q.error is not null
        order by q.campaign_id, q.updated_at desc, q.id desc
    )
    select coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', p.campaign_id, 'campaign_name', c.name,
               'campaign_status', c.status, 'rows', p.rows, 'due_now', p.due_now,
               'next_scheduled_for', p.next_at, 'ambiguous', p.ambiguous,
               'rejected', p.rejected, 'last_error', e.error, 'last_error_at', e.updated_at,
               'paused_reason', c.paused_reason)
           order by c.name nulls first, p.campaign_id), '[]'::jsonb)
    from per_campaign p
    left join campaigns c on c.id = p.campaign_id
    left join last_error e on e.campaign_id = p.campaign_id
$$;

-- A campaign's failed rows by kind, and the campaign's status (null when there is
-- no such campaign), for `retry-failed` to say what it will do.
create or replace function cr_failed_rows(p_campaign_id text) returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
    select jsonb_build_object(
        'campaign_status', (select status from campaigns
                            where id = cr_campaign_uuid(p_campaign_id)),
        'retryable', count(*) filter (where k.kind = 'retryable'),
        'ambiguous', count(*) filter (where k.kind = 'ambiguous'),
        'suppressed', count(*) filter (where k.kind = 'suppressed'))
    from cr_failed_kinds(cr_campaign_uuid(p_campaign_id)) k
$$;

-- `retry-failed`: the campaign's retryable failed rows (and, with
-- p_include_ambiguous, those that may have been delivered) back to `queued`, due
-- at p_now, with attempts, error and lease cleared. A `completed` campaign that got
-- rows back is `sending` again. Returns how many rows were requeued.
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
        set status = 'queued', attempts = 0, error = null, locked_by = null,
            locked_at = null, send_started_at = null, scheduled_for = p_now,
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

-- Only the owner and Supabase's service role may run the worker's routines: PostgREST
-- exposes every function in `public` that a role may execute, and PUBLIC may execute
-- any new function. Written once here for this and every later migration to call
-- after it adds routines (0002 did the same inline for its own).
create or replace procedure cr_restrict_routines()
language plpgsql
set search_path = public, pg_temp
as $$
declare
    routine regprocedure;
begin
    for routine in
        select p.oid::regprocedure from pg_proc p
        where p.pronamespace = 'public'::regnamespace and p.proname like 'cr\_%'
    loop
        execute format('revoke execute on routine %s from public', routine);
        if exists (select 1 from pg_roles where rolname = 'anon') then
            execute format('revoke execute on routine %s from anon', routine);
        end if;
        if exists (select 1 from pg_roles where rolname = 'authenticated') then
            execute format('revoke execute on routine %s from authenticated', routine);
        end if;
        if exists (select 1 from pg_roles where rolname = 'service_role') then
            execute format('grant execute on routine %s to service_role', routine);
        end if;
    end loop;
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (3, '0003_operations.sql')
on conflict (version) do nothing;
