DELETE FROM sending_domains
