"""The SQLite backend: the store, and how it notices other processes' commits."""
