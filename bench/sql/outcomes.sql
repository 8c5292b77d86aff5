-- How far a campaign's rows have got: settled (sent or failed), and sent.
select count(*) filter (where status in ('sent', 'failed')) as settled,
       count(*) filter (where status = 'sent') as sent
from email_queue
where campaign_id = %(campaign)s::uuid
