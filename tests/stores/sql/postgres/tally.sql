-- A row handed out twice shows as more handouts than rows; a row claimed twice
-- shows as attempts above one (every claim adds one).
select (select count(*) from handouts) as handouts,
       (select count(distinct email_id) from handouts) as rows_handed_out,
       count(*) as rows,
       count(*) filter (where status = 'sent') as sent,
       min(attempts) as min_attempts,
       max(attempts) as max_attempts
from email_queue
