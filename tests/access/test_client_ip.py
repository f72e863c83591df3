from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from engage.web.identity import client_ip
from tests.conftest import make_settings


def _request(tmp_path, peer: str, forwarded: str | None, proxies: list[str]) -> Request:
    settings = make_settings(
        "sqlite://:memory:", tmp_path / "var", security={"trusted_proxies": proxies}
    )
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 1234),
        "app": SimpleNamespace(state=SimpleNamespace(settings=settings)),
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        # No trusted proxy: the header is a lie anyone can tell.
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),
        # From a peer that is not a trusted proxy: ignored too.
        ("203.0.113.9", "198.51.100.1", ["127.0.0.1"], "203.0.113.9"),
        # Behind a trusted proxy: the right-most untrusted hop is the client.
        ("127.0.0.1", "198.51.100.1", ["127.0.0.1"], "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", ["127.0.0.1"], "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, 10.0.0.3", ["10.0.0.0/8"], "198.51.100.1"),
        ("127.0.0.1", None, ["127.0.0.1"], "127.0.0.1"),
        ("127.0.0.1", "garbage", ["127.0.0.1"], "127.0.0.1"),
    ],
)
def test_client_ip_honours_only_trusted_proxies(tmp_path, peer, forwarded, proxies, expected):
    assert client_ip(_request(tmp_path, peer, forwarded, proxies)) == expected
