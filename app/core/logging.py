"""Structured JSON logs with a request id on every line and personal numbers masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Order matters: the longer patterns first, so an ID number is not half-masked as a phone.
# Digits glued to ASCII letters are part of an identifier (hex ids, hashes, keys), not a
# number someone typed: those are left alone. Chinese text around a number is not a letter.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<![0-9A-Za-z_.])\d(?:[ -]?\d){11,18}(?![0-9A-Za-z_]|\.\d)")
_PHONE = re.compile(
    r"(?<![0-9A-Za-z_.])(\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?![0-9A-Za-z_]|\.\d)"
)
_API_KEY = re.compile(r"kefu_[A-Za-z0-9_-]{16,}")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:key|token|secret|api_key|access_token|identity|password)=)[^&\s\"'#]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def mask_pii(text: str) -> str:
    """Mask Chinese ID numbers, bank cards and mobile numbers in free text."""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(3)}", text)
    return _BANK_CARD.sub(lambda m: "****" + re.sub(r"\D", "", m.group(0))[-4:], text)


def redact_secrets(text: str) -> str:
    """API keys, bearer tokens and secret-looking query parameters (``?key=``) removed."""
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    text = _BEARER.sub(r"\1[redacted]", text)
    return _API_KEY.sub("kefu_[redacted]", text)


def scrub(text: str) -> str:
    """What may reach a log line: no secrets, personal numbers masked."""
    return mask_pii(redact_secrets(text))


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _trace_ids() -> tuple[str, str] | None:
    """The current OpenTelemetry trace and span ids (None when tracing is off)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        rid = request_id_var.get()
        if rid:
            payload["request_id"] = rid
        ids = _trace_ids()
        if ids:
            payload["trace_id"], payload["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id_var.get()
        prefix = f"[{rid}] " if rid else ""
        return scrub(prefix + super().format(record))


def configure_logging(*, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else PlainFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "multipart", "milvus_lite", "pymilvus", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Uvicorn's own handlers would print unmasked, unstructured lines; route them to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
