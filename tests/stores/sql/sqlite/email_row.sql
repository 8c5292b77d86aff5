SELECT * FROM email_queue WHERE id = :id
