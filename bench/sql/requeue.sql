-- Puts the rows a claim took back, so that the next claim meets the same table.
update email_queue
set status = 'queued', locked_by = null, locked_at = null, attempts = 0
where status = 'processing'
