select c.owner_id, q.opened_at, q.attempts, q.metadata, q.status
from email_queue q join campaigns c on c.id = q.campaign_id
