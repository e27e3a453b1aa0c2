"""The support agent as an OpenAI-compatible chat model (`/v1/chat/completions`)."""
