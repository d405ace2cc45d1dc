"""Doors: other agent protocols (MCP, A2A) translated onto the one run service.

A door only translates: who is calling comes from the same authentication as every route
(`server.deps.get_identity`), and each call becomes a run of `RunsService`, with its
thread ownership, run policy (scopes, server paths), run record and metrics.
"""
