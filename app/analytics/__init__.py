"""Operators' analytics: outcomes over a time range, knowledge gaps, conversation search."""
