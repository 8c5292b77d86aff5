-- The server drops the store's connections, as a restart or a failover would.
select count(pg_terminate_backend(pid)) as terminated
from pg_stat_activity
where application_name = 'campaign-runner' and datname = current_database()
