"""Access tokens verified once per process are remembered, never trusted beyond that:
an altered token, another secret or a passed expiry is refused as if seen for the first
time."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from studioloop.config import Settings
from studioloop.core import security


def _settings(secret: str) -> Settings:
    return Settings(_env_file=None, environment="test", secret_key=SecretStr(secret))  # type: ignore[call-arg]


SETTINGS = _settings("a" * 48)


def test_a_token_decodes_the_same_every_time() -> None:
    user = uuid.uuid4()
    token = security.create_access_token(SETTINGS, user)
    first = security.decode_access_token(SETTINGS, token)
    assert first.user_id == user
    assert security.decode_access_token(SETTINGS, token) == first


def test_an_altered_token_is_refused_after_the_original_was_accepted() -> None:
    token = security.create_access_token(SETTINGS, uuid.uuid4())
    security.decode_access_token(SETTINGS, token)
    header, payload, signature = token.split(".")
    forged_signature = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for forged in (f"{header}.{payload}.{forged_signature}", token + "x", token[:-1]):
        with pytest.raises(security.InvalidToken) as refused:
            security.decode_access_token(SETTINGS, forged)
        assert refused.value.reason == "invalid"


def test_a_remembered_token_is_not_valid_under_another_secret() -> None:
    token = security.create_access_token(SETTINGS, uuid.uuid4())
    security.decode_access_token(SETTINGS, token)
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(_settings("b" * 48), token)


def test_a_remembered_token_expires() -> None:
    ttl = 60
    # Issued long enough ago that it has 2-3 seconds left (expiry is in whole seconds).
    issued = datetime.now(UTC) - timedelta(seconds=ttl - 3)
    token = security.create_access_token(SETTINGS, uuid.uuid4(), now=issued, ttl_seconds=ttl)
    security.decode_access_token(SETTINGS, token)  # valid, and remembered
    time.sleep(3.2)
    with pytest.raises(security.InvalidToken) as refused:
        security.decode_access_token(SETTINGS, token)
    assert refused.value.reason == "expired"


def test_an_expired_token_is_refused_on_first_sight() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = security.create_access_token(SETTINGS, uuid.uuid4(), now=issued, ttl_seconds=60)
    with pytest.raises(security.InvalidToken) as refused:
        security.decode_access_token(SETTINGS, token)
    assert refused.value.reason == "expired"
