-- Leases that live as long as their worker, and a known outcome that wins over a
-- guess (issue 14). Additive and idempotent like the others: a worker of an earlier
-- version keeps calling what it called, and gains the renewal at the start of a
-- send (cr_start_send keeps its signature).

-- Renew the leases of the rows a worker still holds, all in one statement. Only
-- `processing` rows it still holds are touched; `updated_at` is left alone, as the
-- row's data does not change (the status' "last error" orders by it).
create or replace function cr_renew_leases(
    p_worker text,
    p_ids uuid[],
    p_now timestamptz
) returns int
language sql
set search_path = public, pg_temp
as $$
    with renewed as (
        update email_queue
        set locked_at = p_now
        where id = any(p_ids) and status = 'processing' and locked_by = p_worker
        returning 1
    )
    select count(*)::int from renewed
$$;

-- As 0002's, and the start of the send renews the lease: the send gets a whole
-- LEASE_SECONDS however long the row waited for a thread or its content.
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
    set send_started_at = p_now, locked_at = p_now, updated_at = p_now,
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

-- A known outcome wins over a guess. Stale recovery failed the row as ambiguous
-- (keeping locked_by) because the lease of the worker that held it ran out; that
-- worker, alive after all, then writes what it knows of its send: accepted (`sent`,
-- with the provider's id), refused (`failed`), or not taken (`queued` again: the
-- provider said "not now", or was not reached). Taken only from that worker, for that
-- send (its send_started_at, to the microsecond), over recovery's own text: no other
-- final state is ever overwritten. The row is reopened and finished by cr_finish_v2,
-- as every outcome is, in one transaction; its campaign is recounted (the roll-up
-- no longer recounts a campaign it completed meanwhile) and, given a row back,
-- sending again.
create or replace function cr_settle_late(
    p_id uuid,
    p_worker text,
    p_now timestamptz,
    p_status text,
    p_error text,
    p_failure_kind text,
    p_provider_message_id text,
    p_retry_at timestamptz,
    p_give_back boolean,
    p_send_started_at timestamptz
) returns boolean
language plpgsql
set search_path = public, pg_temp
as $$
declare
    v_campaign uuid;
begin
    if p_status not in ('sent', 'failed', 'queued') then
        return false;
    end if;
    update email_queue
    set status = 'processing'
    where id = p_id and status = 'failed' and locked_by = p_worker
      and send_started_at = p_send_started_at
      and error like 'ambiguous: interrupted during send%'
    returning campaign_id into v_campaign;
    if not found then
        return false;
    end if;
    -- The send had started: cr_finish_v2 gives nothing of the domain's pacing back.
    if not cr_finish_v2(p_id, p_worker, p_now, p_status, p_error, p_failure_kind,
                        p_provider_message_id, p_retry_at, p_give_back) then
        raise exception 'cr_settle_late: the reopened row % was not finished', p_id;
    end if;
    update campaigns c
    set sent_count = (select count(*) from email_queue q
                      where q.campaign_id = c.id and q.status = 'sent'),
        failed_count = (select count(*) from email_queue q
                        where q.campaign_id = c.id and q.status = 'failed'),
        status = case when p_status = 'queued' and c.status = 'completed'
                      then 'sending' else c.status end,
        completed_at = case when p_status = 'queued' and c.status = 'completed'
                            then null else c.completed_at end,
        updated_at = p_now
    where c.id = v_campaign;
    return true;
end
$$;

call cr_restrict_routines();

insert into cr_schema_migrations (version, name) values (9, '0009_leases.sql')
on conflict (version) do nothing;
