-- Settles the tables after a bulk change and after the samples before it, as autovacuum
-- would in time: fresh planner statistics, no dead index entries for the claim to step
-- over, no dead versions of the pacing rows each paced claim rewrites.
vacuum (analyze) email_queue, domain_pacing
