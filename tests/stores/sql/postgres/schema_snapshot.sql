-- Everything a migration could change, as one comparable value.
select
    (select jsonb_agg(jsonb_build_array(table_name, column_name, data_type, column_default,
                                        is_nullable) order by table_name, column_name)
     from information_schema.columns where table_schema = 'public') as columns,
    (select jsonb_agg(indexdef order by indexdef)
     from pg_indexes where schemaname = 'public') as indexes,
    (select jsonb_agg(jsonb_build_array(p.oid::regprocedure::text, md5(p.prosrc), p.proacl::text)
                      order by p.oid::regprocedure::text)
     from pg_proc p where p.pronamespace = 'public'::regnamespace) as functions,
    (select jsonb_agg(jsonb_build_array(version, name, applied_at) order by version)
     from cr_schema_migrations) as versions,
    (select jsonb_agg(jsonb_build_array(relname, relrowsecurity) order by relname)
     from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r') as tables
