DELETE FROM email_queue WHERE id = :id
