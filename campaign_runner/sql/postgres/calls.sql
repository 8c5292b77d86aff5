-- The postgres store's calls of the SQL functions in ../migrations (see
-- 0002_functions.sql to 0005_failure_kinds.sql). The casts pick each function's exact signature whatever
-- type psycopg gives a Python value.

-- name: claim
select cr_claim(%(worker)s::text, %(limit)s::int, %(now)s::timestamptz,
                %(min_interval)s::int, %(daily_cap)s::int, %(day_start)s::timestamptz);

-- name: peek_due
select cr_peek_due_v2(%(limit)s::int, %(now)s::timestamptz, %(min_interval)s::int,
                      %(daily_cap)s::int, %(day_start)s::timestamptz);

-- name: start_send
select cr_start_send(%(id)s::uuid, %(worker)s::text, %(now)s::timestamptz,
                     %(subject)s::text, %(body)s::text, %(model)s::text,
                     %(prompt_tokens)s::int, %(completion_tokens)s::int);

-- name: finish
select cr_finish_v2(%(id)s::uuid, %(worker)s::text, %(now)s::timestamptz, %(status)s::text,
                    %(error)s::text, %(failure_kind)s::text, %(provider_message_id)s::text,
                    %(retry_at)s::timestamptz, %(give_back)s::boolean);

-- name: recover_stale
select cr_recover_stale(%(cutoff)s::timestamptz, %(max_attempts)s::int, %(now)s::timestamptz);

-- name: roll_up
select cr_roll_up_guarded(%(now)s::timestamptz, %(pause_rate)s::float8, %(min_sends)s::int);

-- name: status
select cr_campaign_status_v2(%(now)s::timestamptz, %(min_interval)s::int, %(daily_cap)s::int,
                             %(day_start)s::timestamptz);

-- name: failed_rows
select cr_failed_rows(%(campaign_id)s::text);

-- name: retry_failed
select cr_retry_failed(%(campaign_id)s::text, %(include_ambiguous)s::boolean,
                       %(now)s::timestamptz);

-- name: schema_version
select cr_schema_version();
