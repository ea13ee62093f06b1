"""The Redis backend: the store, its Lua scripts, and the wake relay."""
