"""Store adapters: the queue in SQLite, Postgres or Supabase."""
