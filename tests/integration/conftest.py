"""Fixtures of the integration tests that need a server beside the broker."""

import os
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from redis import Redis, RedisError

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""A Redis server (this machine's, and the one `.ci/run` starts where none answers)."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    with Redis.from_url(REDIS_URL, socket_connect_timeout=2) as client:
        try:
            client.ping()
        except RedisError as error:
            pytest.fail(f"no Redis answers at {REDIS_URL} ({error}): start redis-server")
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    with Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def kladana_token() -> SecretStr:
    """A token of its own per test, so its shared bucket's keys are its own."""
    return SecretStr(f"test-token-{uuid.uuid4().hex}")
