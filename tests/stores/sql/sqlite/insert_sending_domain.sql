INSERT INTO sending_domains (domain_index, from_email, active)
VALUES (:domain_index, :from_email, :active)
