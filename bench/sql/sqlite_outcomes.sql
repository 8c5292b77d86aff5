-- How far the embedded queue has got: rows settled (sent or failed), and sent.
select count(*) filter (where status in ('sent', 'failed')),
       count(*) filter (where status = 'sent')
from email_queue
