-- The worker's routines that PUBLIC (and so PostgREST's anon role) may execute.
select p.oid::regprocedure::text as routine
from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
where p.pronamespace = 'public'::regnamespace and starts_with(p.proname, 'cr_')
  and a.grantee = 0 and a.privilege_type = 'EXECUTE'
