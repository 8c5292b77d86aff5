-- What PostgREST tells a function about the request it serves, read with
-- current_setting('request.headers', true) and the like (header names lower-cased).
SELECT set_config('request.method', %(method)s, false),
       set_config('request.path', %(path)s, false),
       set_config('request.headers', %(headers)s, false);
