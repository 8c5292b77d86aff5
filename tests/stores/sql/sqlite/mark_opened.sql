UPDATE email_queue SET delivered_at = :at, opened_at = :at, clicked_at = :at WHERE id = :id
