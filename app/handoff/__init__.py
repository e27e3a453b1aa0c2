"""Human handoff (转人工): the agents' queue and console API."""
