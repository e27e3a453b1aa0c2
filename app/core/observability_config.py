"""Settings of the metrics endpoint and of tracing (``KEFU_METRICS_*``, ``OTEL_*``).

Apart from ``config.py`` so that file stays readable; ``Settings.observability`` holds it.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_METRICS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    enabled: bool = Field(True, description="Serve GET /metrics (Prometheus text format).")
    token: SecretStr | None = Field(
        None,
        description="When set, /metrics wants 'Authorization: Bearer <token>' from every "
        "caller. Unset, it answers only callers on loopback or private addresses "
        "(10/8, 172.16/12, 192.168/16, fc00::/7), so a scraper beside kefu needs no secret "
        "and the internet gets a 401.",
    )
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector (e.g. http://otel-collector:4318). Tracing is off "
        "unless it is set; the other OTEL_* variables (OTEL_SERVICE_NAME, "
        "OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER...) are read by the SDK itself.",
    )
