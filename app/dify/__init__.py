"""Dify integrations: External Knowledge API, custom-tool OpenAPI and API-based extension."""
