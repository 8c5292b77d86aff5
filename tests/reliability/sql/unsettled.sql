-- Rows a worker still has to settle: due work, or work a live or dead worker holds.
select count(*) as n from email_queue where status in ('queued', 'processing')
