-- Every row of the queue with what the reliability tests judge it by, in claim order.
select id::text as id, status, error, attempts, send_started_at, sent_at,
       provider_message_id, generation_model, locked_by
from email_queue
order by scheduled_for, id
