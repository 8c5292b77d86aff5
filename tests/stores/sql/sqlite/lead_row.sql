SELECT l.*, (SELECT json_group_array(json_object(
                 'id', q.id, 'step_number', q.step_number, 'status', q.status,
                 'variant', q.variant, 'from_email', q.from_email, 'subject', q.subject,
                 'body', q.body, 'message_id_header', q.message_id_header,
                 'references_header', q.references_header, 'failure_kind', q.failure_kind,
                 'error', q.error, 'scheduled_for', q.scheduled_for, 'sent_at', q.sent_at,
                 'send_before', q.send_before))
             FROM (SELECT * FROM email_queue WHERE lead_id = l.id ORDER BY step_number) q) AS rows
FROM campaign_leads l WHERE l.id = :id
