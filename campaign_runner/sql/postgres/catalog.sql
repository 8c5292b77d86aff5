-- What `migrate` and the postgres store (for `check`) read of a database's catalog.

-- name: migrations_table
-- Before the first migration there is no table to read versions from.
select to_regclass('public.cr_schema_migrations') is not null;

-- name: applied_versions
select version from cr_schema_migrations;

-- name: tables
select table_name from information_schema.tables
where table_schema = 'public' and table_name = any(%(names)s);

-- name: columns
select table_name, column_name from information_schema.columns
where table_schema = 'public' and table_name = any(%(tables)s);

-- name: functions
select distinct proname from pg_proc
where pronamespace = 'public'::regnamespace and proname = any(%(names)s);

-- name: lock
-- One migration at a time, whoever else runs `migrate` against this database.
select pg_advisory_xact_lock(hashtext('campaign-runner migrate'));
