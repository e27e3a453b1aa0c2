"""Conversations: load history, route, persist both messages, record the trace."""
