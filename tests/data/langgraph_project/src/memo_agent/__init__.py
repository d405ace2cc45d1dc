"""A memo agent: remembers what each user tells it, across threads, in the LangGraph store."""
