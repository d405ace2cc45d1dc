"""Long-term memory: namespaced JSON items with TTLs and semantic search (`docs/store.md`).

Served at `/store/*` (the Agent Server's store API) and to every graph as `runtime.store`,
each identity in namespaces of its own.
"""
