"""Sequences (issue 17): multi-step follow-ups with A/B variants, per-campaign
schedules, and a stop on reply. `dispatch` puts each due lead's next step in the
queue; `replies` reads the mailboxes and stops the leads that answered."""
