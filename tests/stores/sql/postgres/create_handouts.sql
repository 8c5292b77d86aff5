-- Every row each worker process was handed by a claim, written as it gets them.
create table handouts (email_id uuid not null, worker text not null)
