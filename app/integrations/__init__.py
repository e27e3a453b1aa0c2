"""Where kefu plugs into other ecosystems (LangChain); nothing in the service imports it."""
