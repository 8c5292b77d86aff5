alter table email_queue drop column prompt_tokens;
drop function cr_finish;
