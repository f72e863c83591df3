from __future__ import annotations

import json
import logging

from engage.logs import JsonFormatter, request_id_var


def test_json_log_lines_carry_the_request_id_and_extra_fields():
    token = request_id_var.set("req-12345678")
    try:
        record = logging.LogRecord(
            "engage.mail", logging.INFO, __file__, 1, "sent %s", ("x",), None
        )
        record.outbox_id = 42
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "sent x"
    assert entry["level"] == "info"
    assert entry["logger"] == "engage.mail"
    assert entry["request_id"] == "req-12345678"
    assert entry["outbox_id"] == 42
    assert entry["time"].endswith("+00:00")


async def test_each_request_is_logged_once_with_its_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="engage.access"):
        response = await client.get("/healthz", headers={"X-Request-ID": "trace-abcdef12"})
    lines = [r for r in caplog.records if r.name == "engage.access"]
    assert len(lines) == 1
    assert lines[0].status == 200
    assert lines[0].path == "/healthz"
    assert response.headers["x-request-id"] == "trace-abcdef12"
