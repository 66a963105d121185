"""Settings refuse unsafe production configurations."""

from __future__ import annotations

import pytest

from studioloop.config import DEVELOPMENT_SECRET, InsecureSettingsError, Settings


def test_development_runs_with_the_default_secret() -> None:
    settings = Settings(environment="development", secret_key=DEVELOPMENT_SECRET, _env_file=None)
    assert settings.is_development


@pytest.mark.parametrize("secret", [DEVELOPMENT_SECRET, "short-secret"])
def test_production_refuses_default_or_short_secret(secret: str) -> None:
    with pytest.raises(InsecureSettingsError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=secret, _env_file=None)


def test_production_refuses_cheap_password_hashing() -> None:
    with pytest.raises(InsecureSettingsError, match="PASSWORD_HASH_CHEAP"):
        Settings(
            environment="production", secret_key="s" * 40, password_hash_cheap=True, _env_file=None
        )


def test_cors_origins_from_a_comma_separated_variable(monkeypatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    settings = Settings(_env_file=None)
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
