"""Prometheus metrics and OpenTelemetry traces: the instruments (``metrics``, ``tracing``)
import nothing of the project but ``app.core``, so every layer down to the LLM client can
use them; the HTTP parts (``middleware``, ``router``, ``gauges``) sit beside the app."""
