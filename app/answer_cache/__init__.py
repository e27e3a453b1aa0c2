"""Answers to frequent general questions, reused instead of asking the LLM again."""
