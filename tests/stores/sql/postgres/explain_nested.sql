-- Show the plan of every statement run inside the functions, as NOTICEs to this session.
load 'auto_explain';
set auto_explain.log_min_duration = 0;
set auto_explain.log_nested_statements = on;
set auto_explain.log_level = notice;
set client_min_messages = notice;
set auto_explain.log_analyze = on;
