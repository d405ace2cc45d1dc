"""LangGraph's thread-centric streaming protocol ("v2") over the one run engine.

`POST /threads/{id}/commands` takes `{id, method, params}` commands (`commands.py`);
`POST /threads/{id}/stream/events` streams a thread's protocol events as SSE
(`journal.py`), each derived from the run's stored events (`mapping.py`) and filtered by
channel, namespace and depth (`filters.py`). Nothing here is stored: a thread's protocol
events are computed again from its runs' event logs, so any process can serve a
reconnect, and `since` resumes exactly where a client left off.
"""
