"""Generator adapters: content for rows whose body is empty."""
