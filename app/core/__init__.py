"""Settings, database, logging and errors: the base every other package builds on."""
