"""The agent behind the `llm` route: retrieval, tools and the LLM, with degraded modes."""
