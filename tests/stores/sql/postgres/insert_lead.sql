insert into campaign_leads (id, campaign_id, to_email, to_name, metadata, from_email, status,
                            created_at)
values (%(id)s::uuid, %(campaign_id)s::uuid, %(to_email)s, %(to_name)s, %(metadata)s::jsonb,
        %(from_email)s, %(status)s, %(created_at)s::timestamptz)
