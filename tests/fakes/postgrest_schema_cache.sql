-- The fake PostgREST's schema cache, read on every call: the overloads of one
-- function in schema public, with what is needed to match a call's argument
-- names the way PostgREST does (parameters with defaults may be left out), the
-- types of the input parameters (in order), and whether it returns void
-- (answered with an empty body).
SELECT p.proargnames AS names, p.proargmodes AS modes, p.pronargs AS inputs,
       p.pronargdefaults AS defaults,
       array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, n)
             ORDER BY n) AS types,
       p.prorettype = 'void'::regtype AS void
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = %(name)s;
