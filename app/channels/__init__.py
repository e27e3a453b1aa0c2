"""Channel adapters: each translates a platform's payload into a channel-neutral turn and the
reply back into the platform's format. Nothing imports channels."""
