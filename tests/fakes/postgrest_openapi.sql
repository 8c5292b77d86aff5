-- What the fake PostgREST's OpenAPI description (GET /rest/v1/) lists: the tables
-- and views of schema public with their columns, and its functions.
SELECT 'table' AS kind, c.table_name AS name,
       jsonb_object_agg(c.column_name, jsonb_build_object('format', c.data_type)) AS columns
FROM information_schema.columns c
WHERE c.table_schema = 'public'
GROUP BY c.table_name
UNION ALL
SELECT DISTINCT 'function', p.proname::text, NULL::jsonb
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace;
