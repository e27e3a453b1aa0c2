from __future__ import annotations

import json
import logging

import pytest

from app.core.logging import JsonFormatter, mask_pii, request_id_var


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("call me on 13812345678 please", "call me on 138****5678 please"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("身份证110101199003071234", "身份证110101********1234"),
        ("ID 11010119900307123X end", "ID 110101********123X end"),
        ("card 6222 0212 3456 7890 123", "card ****0123"),
        ("card 6222021234567890", "card ****7890"),
    ],
)
def test_mask_pii(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


def test_amounts_dates_and_order_numbers_survive() -> None:
    text = "order 20261122 cost 128.50 on 2026-11-22, ref A1234567"
    assert mask_pii(text) == text


def test_json_log_line_has_request_id_and_masks_extras() -> None:
    record = logging.makeLogRecord(
        {
            "name": "t",
            "levelno": 20,
            "levelname": "INFO",
            "msg": "user %s",
            "args": ("13912345678",),
        }
    )
    record.phone = "13912345678"
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-1"
    assert line["message"] == "user 139****5678"
    assert line["phone"] == "139****5678"


def test_decimals_and_durations_are_not_cards() -> None:
    text = "succeeded in 0.011193403000106628s; ratio 13812345678.5"
    assert mask_pii(text) == text
