-- Settles the table after a bulk change, as autovacuum would in time: fresh planner
-- statistics, no dead index entries for the claim to step over.
vacuum (analyze) email_queue
