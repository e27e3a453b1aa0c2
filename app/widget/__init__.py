"""The embeddable web chat widget: a script tag, a sandboxed frame and a streaming API."""
