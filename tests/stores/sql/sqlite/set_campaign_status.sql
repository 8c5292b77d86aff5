UPDATE campaigns SET status = :status WHERE id = :id
