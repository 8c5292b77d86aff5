-- The schema public as comparable values, read from pg_catalog: what a migration
-- can change (tables, columns with their types, defaults and nullability,
-- constraints, indexes, statistics, triggers, policies, row level security, each
-- function's whole definition and its privileges). No rows.
select
    (select jsonb_agg(jsonb_build_array(c.relname, c.relkind, c.relrowsecurity,
                                        c.relforcerowsecurity, c.relacl::text)
                      order by c.relname)
     from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'm', 'p'))
        as tables,
    (select jsonb_agg(jsonb_build_array(c.relname, a.attname,
                                        format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                        pg_get_expr(d.adbin, d.adrelid))
                      order by c.relname, a.attname)
     from pg_attribute a
     join pg_class c on c.oid = a.attrelid
     left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
       and a.attnum > 0 and not a.attisdropped) as columns,
    (select jsonb_agg(jsonb_build_array(conrelid::regclass::text, conname,
                                        pg_get_constraintdef(oid))
                      order by conrelid::regclass::text, conname)
     from pg_constraint where connamespace = 'public'::regnamespace) as constraints,
    (select jsonb_agg(indexdef order by indexdef)
     from pg_indexes where schemaname = 'public') as indexes,
    (select jsonb_agg(pg_get_statisticsobjdef(oid) order by stxname)
     from pg_statistic_ext where stxnamespace = 'public'::regnamespace) as statistics,
    (select jsonb_agg(pg_get_triggerdef(t.oid) order by t.tgname)
     from pg_trigger t join pg_class c on c.oid = t.tgrelid
     where c.relnamespace = 'public'::regnamespace and not t.tgisinternal) as triggers,
    (select jsonb_agg(jsonb_build_array(tablename, policyname, cmd, roles::text, qual,
                                        with_check)
                      order by tablename, policyname)
     from pg_policies where schemaname = 'public') as policies,
    (select jsonb_agg(jsonb_build_array(p.oid::regprocedure::text, pg_get_functiondef(p.oid),
                                        p.proacl::text)
                      order by p.oid::regprocedure::text)
     from pg_proc p where p.pronamespace = 'public'::regnamespace) as functions
