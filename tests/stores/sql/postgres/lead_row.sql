select l.*, (select coalesce(jsonb_agg(jsonb_build_object(
                 'id', q.id, 'step_number', q.step_number, 'status', q.status,
                 'variant', q.variant, 'from_email', q.from_email, 'subject', q.subject,
                 'body', q.body, 'message_id_header', q.message_id_header,
                 'references_header', q.references_header, 'failure_kind', q.failure_kind,
                 'error', q.error, 'scheduled_for', q.scheduled_for, 'sent_at', q.sent_at,
                 'send_before', q.send_before)
                 order by q.step_number), '[]')
             from email_queue q where q.lead_id = l.id) as rows
from campaign_leads l where l.id = %(id)s::uuid
