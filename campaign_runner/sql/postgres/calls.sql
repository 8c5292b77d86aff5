-- The worker's calls of the SQL functions in ../migrations: one signature per store
-- method, copied from the function it calls. Both transports read these lines: the
-- psycopg one writes `select cr_x(%(p_a)s::type, ...)` from them (the casts pick the
-- exact signature whatever type psycopg gives a Python value), the supabase one posts
-- the same parameter names to PostgREST's /rpc/cr_x. A test checks that each signature
-- names a function the migrations create.

-- name: claim
cr_claim_v2(p_worker text, p_limit int, p_now timestamptz, p_min_interval_seconds int,
            p_daily_cap int, p_day_start timestamptz, p_bound_only boolean)

-- name: peek_due
cr_peek_due_v2(p_limit int, p_now timestamptz, p_min_interval_seconds int, p_daily_cap int,
               p_day_start timestamptz)

-- name: start_send
cr_start_send(p_id uuid, p_worker text, p_now timestamptz, p_subject text, p_body text,
              p_model text, p_prompt_tokens int, p_completion_tokens int)

-- name: finish
cr_finish_v2(p_id uuid, p_worker text, p_now timestamptz, p_status text, p_error text,
             p_failure_kind text, p_provider_message_id text, p_retry_at timestamptz,
             p_give_back boolean)

-- name: recover_stale
cr_recover_stale(p_cutoff timestamptz, p_max_attempts int, p_now timestamptz)

-- name: roll_up
cr_roll_up_guarded_v2(p_now timestamptz, p_pause_rate double precision, p_min_sends int,
                      p_complaint_rate double precision, p_complaint_min int)

-- name: status
cr_campaign_status_v3(p_now timestamptz, p_min_interval_seconds int, p_daily_cap int,
                      p_day_start timestamptz)

-- name: failed_rows
cr_failed_rows(p_campaign_id text)

-- name: retry_failed
cr_retry_failed(p_campaign_id text, p_include_ambiguous boolean, p_now timestamptz)

-- name: schema_version
cr_schema_version()

-- name: claim_events_poll
cr_events_claim_poll(p_poller text, p_now timestamptz, p_lease_seconds int)

-- name: ingest_events
cr_ingest_events(p_poller text, p_now timestamptz, p_lease_seconds int, p_events jsonb,
                 p_window_from timestamptz, p_window_to timestamptz, p_next_path text)

-- name: release_events_poll
cr_events_release_poll(p_poller text, p_now timestamptz)

-- name: settle_unseen_sends
cr_events_settle_unseen(p_grace_seconds int, p_now timestamptz)

-- name: roll_up_events
cr_events_roll_up(p_campaign_ids uuid[], p_now timestamptz)

-- name: recipient_of
cr_recipient_of(p_id uuid)

-- name: suppress_recipient_of
cr_suppress_recipient_of(p_id uuid, p_reason text, p_source text, p_now timestamptz)

-- name: find_campaign
cr_find_campaign(p_ref text)

-- name: apply_campaign
cr_apply_campaign(p_key text, p_fields jsonb, p_frozen text[], p_now timestamptz)

-- name: import_contacts
cr_import_contacts(p_campaign_id uuid, p_contacts jsonb, p_now timestamptz)

-- name: stage
cr_stage_campaign(p_campaign_id uuid, p_now timestamptz)

-- name: launch_basis
cr_launch_basis(p_campaign_id uuid, p_now timestamptz)

-- name: launch
cr_launch_campaign(p_campaign_id uuid, p_token jsonb, p_plan jsonb, p_now timestamptz)

-- name: sending_domains
cr_sending_domains()

-- name: add_sending_domain
cr_add_sending_domain(p_from_email text, p_from_name text, p_now timestamptz)

-- name: set_sending_domain_active
cr_set_sending_domain_active(p_which text, p_active boolean, p_now timestamptz)

-- name: requested_work
cr_requested_work()

-- name: refuse_request
cr_refuse_request(p_campaign_id uuid, p_error text, p_now timestamptz)

-- name: rows_page
cr_campaign_rows(p_campaign_id uuid, p_status text, p_after_id uuid, p_limit int)

-- name: test_send_row
cr_test_send_row(p_campaign_id uuid, p_row_id uuid, p_address text)

-- name: renew_leases
cr_renew_leases(p_worker text, p_ids uuid[], p_now timestamptz)

-- name: settle_late
cr_settle_late(p_id uuid, p_worker text, p_now timestamptz, p_status text, p_error text,
               p_failure_kind text, p_provider_message_id text, p_retry_at timestamptz,
               p_give_back boolean, p_send_started_at timestamptz)

-- name: sequence_progress
cr_sequence_progress(p_now timestamptz)

-- name: sequence_schedules
cr_sequence_schedules(p_now timestamptz)

-- name: fit_to_windows
cr_fit_to_windows(p_windows jsonb, p_now timestamptz)

-- name: due_leads
cr_due_leads(p_campaigns jsonb, p_now timestamptz, p_limit int)

-- name: dispatch_leads
cr_dispatch_leads(p_campaigns jsonb, p_leads jsonb, p_now timestamptz)

-- name: reply_mailbox
cr_reply_mailbox(p_mailbox text)

-- name: record_inbound
cr_record_inbound(p_mailbox text, p_address text, p_uidvalidity bigint, p_last_uid bigint,
                  p_messages jsonb, p_now timestamptz)

-- name: sequence_status
cr_sequence_status()

-- name: sequence_steps
cr_sequence_steps(p_campaign_id uuid)

-- name: stage_leads
cr_stage_leads(p_campaign_id uuid, p_now timestamptz)

-- name: launch_leads
cr_launch_leads(p_campaign_id uuid, p_now timestamptz)

-- name: put_steps
cr_put_sequence_steps(p_campaign_id uuid, p_ab_testing boolean, p_steps jsonb,
                      p_now timestamptz)
