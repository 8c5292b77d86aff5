SELECT * FROM campaigns WHERE id = :id
