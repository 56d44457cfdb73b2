"""Who may send webhooks: tokens, client addresses behind proxies, and masking for logs
(gunicorn's access log included)."""

import logging
from collections.abc import Sequence
from datetime import timedelta
from ipaddress import ip_address, ip_network
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from pydantic import SecretStr

from ingest.access import (
    AccessPolicy,
    Network,
    address_allowed,
    client_address,
    masked_path,
    masked_query,
    masked_text,
    token_accepted,
)
from ingest.server import JsonLogger
from ingest.settings import IngestSettings
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings

SECRET_TEXT = "s3cret-Tökén"
SECRET = SecretStr(SECRET_TEXT)
NEXT_SECRET = SecretStr("n3xt-secret")


@pytest.mark.parametrize(
    ("presented", "accepted"),
    [
        (["s3cret-Tökén"], True),
        ([], False),
        ([""], False),
        (["s3cret-tökén"], False),
        (["s3cret-Tökén "], False),
        (["s3cret"], False),
        (["s3cret-Tökén", "s3cret-Tökén"], False),
        (["wrong", "s3cret-Tökén"], False),
        (["ünïcödé"], False),
    ],
)
def test_token_check_with_a_configured_token(presented: list[str], accepted: bool) -> None:
    assert token_accepted([SECRET], presented) is accepted


@pytest.mark.parametrize(
    ("presented", "accepted"),
    [
        (["s3cret-Tökén"], True),
        (["n3xt-secret"], True),
        (["s3cret-Tökén,n3xt-secret"], False),
        (["s3cret-Tökén", "n3xt-secret"], False),
        (["other"], False),
    ],
)
def test_any_of_several_tokens_is_accepted_so_one_can_be_rotated(
    presented: list[str], accepted: bool
) -> None:
    assert token_accepted([SECRET, NEXT_SECRET], presented) is accepted


@pytest.mark.parametrize("presented", [[], ["anything"], ["a", "b"]])
def test_without_a_configured_token_everything_passes(presented: list[str]) -> None:
    assert token_accepted([], presented)


def networks(*cidrs: str) -> Sequence[Network]:
    return [ip_network(cidr) for cidr in cidrs]


PROXIES = networks("10.0.0.0/8", "fd00::/8")


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "client"),
    [
        # Not from a trusted proxy: X-Forwarded-For is whatever the client wrote.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        ("203.0.113.7", [], "203.0.113.7"),
        # From a trusted proxy: the rightmost untrusted hop is the client.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.1.1.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6,198.51.100.1,10.1.1.1"], "198.51.100.1"),
        ("fd00::2", ["2001:db8::5"], "2001:db8::5"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["::ffff:198.51.100.1"], "198.51.100.1"),
        # All hops trusted: the leftmost is as far as anyone can tell.
        ("10.0.0.2", ["10.9.9.9, 10.1.1.1"], "10.9.9.9"),
        ("10.0.0.2", [], "10.0.0.2"),
        # A malformed hop where the client should be: unknown.
        ("10.0.0.2", ["198.51.100.1, garbage"], None),
        ("10.0.0.2", ["198.51.100.1, "], None),
        ("10.0.0.2", ["unknown"], None),
        # Spoofing an allowed address to the left of the real client does not help.
        ("10.0.0.2", ["192.0.2.10, 203.0.113.9"], "203.0.113.9"),
        (None, ["198.51.100.1"], None),
        ("", [], None),
        ("not-an-address", [], None),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(
    remote_addr: str | None, forwarded_for: list[str], client: str | None
) -> None:
    found = client_address(remote_addr, forwarded_for, PROXIES)
    assert found == (None if client is None else ip_address(client))


def test_without_trusted_proxies_forwarded_for_is_ignored() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], []) == ip_address("10.0.0.2")


ALLOWED = networks("192.0.2.0/24", "2001:db8::/32")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("192.0.2.1", True),
        ("192.0.2.255", True),
        ("192.0.3.1", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        (None, False),
    ],
)
def test_the_allow_list(address: str | None, allowed: bool) -> None:
    found = None if address is None else ip_address(address)
    assert address_allowed(found, ALLOWED) is allowed


@pytest.mark.parametrize("address", ["203.0.113.7", None])
def test_without_an_allow_list_every_client_is_allowed(address: str | None) -> None:
    assert address_allowed(None if address is None else ip_address(address), [])


def test_the_policy_combines_the_three() -> None:
    policy = AccessPolicy(
        tokens=(SECRET,), allowed_networks=tuple(ALLOWED), trusted_proxies=tuple(PROXIES)
    )
    assert policy.admits(policy.client("10.0.0.2", ["192.0.2.50"]))
    assert not policy.admits(policy.client("10.0.0.2", ["8.8.8.8"]))
    assert not policy.admits(policy.client("8.8.8.8", ["192.0.2.50"]))
    assert policy.authenticates([SECRET.get_secret_value()])
    assert not policy.authenticates(["x"])
    assert "s3cret" not in repr(policy)


@pytest.mark.parametrize(
    ("path", "masked"),
    [
        ("/webhook/s3cret", "/webhook/****"),
        ("/webhook/s3cret/extra", "/webhook/****"),
        ("/webhook/", "/webhook/****"),
        ("//Webhook/s3cret", "//Webhook/****"),
        ("/webhooks/s3cret", "/webhooks/****"),
        ("/webhook", "/webhook"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
    ],
)
def test_paths_are_masked_after_webhook(path: str, masked: str) -> None:
    assert masked_path(path) == masked


@pytest.mark.parametrize(
    ("query", "masked"),
    [
        ("id=1&token=s3cret&type=Move", "id=1&token=****&type=Move"),
        ("token=s3cret", "token=****"),
        ("token=", "token=****"),
        ("token", "token"),
        ("%74oken=s3cret", "%74oken=****"),
        ("tok%65n=s3cret&token=again", "tok%65n=****&token=****"),
        ("id=token&tokens=x", "id=token&tokens=x"),
        ("x=token=s3cret", "x=token=s3cret"),
        ("", ""),
    ],
)
def test_token_values_are_masked_in_queries(query: str, masked: str) -> None:
    assert masked_query(query) == masked


@pytest.mark.parametrize(
    ("path", "query"),
    [(f"/webhook/{SECRET_TEXT}", "id=1&type=Move"), ("/webhook", f"id=1&token={SECRET_TEXT}")],
)
def test_gunicorns_access_log_masks_the_token(
    caplog: pytest.LogCaptureFixture, path: str, query: str
) -> None:
    logger = JsonLogger(Config())
    response = SimpleNamespace(status="202 ACCEPTED", sent=42)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"{path}?{query}",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": "192.0.2.1",
        "HTTP_REFERER": f"http://x{path}?{query}",
        "HTTP_USER_AGENT": "Kladana webhook touch agent 2.0",
        "HTTP_X_REQUEST_ID": "3f2a",
    }
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, None, environ, timedelta(milliseconds=12))

    [line] = caplog.records
    assert line.getMessage() == "request"
    assert line.__dict__["method"] == "POST"
    assert line.__dict__["status"] == 202
    assert line.__dict__["response_bytes"] == 42
    assert line.__dict__["duration_ms"] == 12.0
    assert line.__dict__["request_id"] == "3f2a"  # the proxy's, to match its log line
    assert line.__dict__["path"] in ("/webhook", "/webhook/****")
    assert line.__dict__["query"] in ("id=1&type=Move", "id=1&token=****")
    assert SECRET_TEXT not in repr(line.__dict__)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("POST /webhook/s3cret", "POST /webhook/****"),
        ("GET /%77ebhook/s3cret", "GET /webhook/****"),
        ("GET /webhook/%2573%2533cret", "GET /webhook/****"),
        (
            "Invalid request from ip=192.0.2.1: Invalid Request Line 'GET /webhook?token=s3cret'",
            "Invalid request from ip=192.0.2.1: Invalid Request Line 'GET /webhook?token=****'",
        ),
        (
            "Error handling request GET /x?id=1&%74oken=s3cret",
            "Error handling request GET /x?id=1&%74oken=****",
        ),
        ("token=s3cret&id=1", "token=****&id=1"),
        ("Listening at: http://0.0.0.0:8000 (7)", "Listening at: http://0.0.0.0:8000 (7)"),
        ("Booting worker with pid: 12", "Booting worker with pid: 12"),
    ],
)
def test_urls_in_free_text_are_masked(text: str, masked: str) -> None:
    assert masked_text(text) == masked


def test_gunicorns_own_messages_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = JsonLogger(Config())
    with caplog.at_level(logging.DEBUG, logger="gunicorn.error"):
        logger.debug("%s %s", "POST", f"/webhook/{SECRET_TEXT}")
        logger.warning(f"Invalid request from ip=192.0.2.1: 'GET /webhook?token={SECRET_TEXT}'")
    assert [r.getMessage() for r in caplog.records] == [
        "POST /webhook/****",
        "Invalid request from ip=192.0.2.1: 'GET /webhook?token=****'",
    ]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(IngestSettings):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_environment")
def test_access_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_TOKEN", f" {SECRET_TEXT} , n3xt ")
    monkeypatch.setenv("INGEST_ALLOWED_NETWORKS", "192.0.2.0/24, 2001:db8::/32")
    monkeypatch.setenv("INGEST_TRUSTED_PROXIES", "10.0.0.1")
    settings = load_settings(IngestSettings)
    assert [token.get_secret_value() for token in settings.tokens] == [SECRET_TEXT, "n3xt"]
    assert settings.ingest_allowed_networks == (
        ip_network("192.0.2.0/24"),
        ip_network("2001:db8::/32"),
    )
    assert settings.ingest_trusted_proxies == (ip_network("10.0.0.1/32"),)
    assert SECRET_TEXT not in repr(settings)


@pytest.mark.usefixtures("clean_environment")
def test_access_settings_default_to_letting_everyone_in() -> None:
    settings = load_settings(IngestSettings)
    assert settings.tokens == ()
    assert settings.ingest_allowed_networks == settings.ingest_trusted_proxies == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INGEST_TOKEN", "a,,b"),
        ("INGEST_TOKEN", "a, "),
        ("INGEST_ALLOWED_NETWORKS", "192.0.2.1/24"),
        ("INGEST_ALLOWED_NETWORKS", "example.com"),
        ("INGEST_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("INGEST_MAX_BODY_BYTES", "-5"),
        ("INGEST_REQUEST_ID_WAIT_MS", "5000"),
    ],
)
@pytest.mark.usefixtures("clean_environment")
def test_bad_access_settings_fail_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as caught:
        load_settings(IngestSettings)
    assert value not in str(caught.value)
