"""Search: the index table, keeping it in step with the store, and hybrid retrieval over it."""
