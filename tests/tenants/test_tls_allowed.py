"""Caddy's on-demand TLS `ask`: a certificate only for the hosts StudioLoop serves."""

from __future__ import annotations

import pytest

from tests.conftest import Api, Owner, assert_error

ASK = "/internal/tls/allowed"


async def _studio_with_verified_domain(api: Api, client, owner_db: Owner) -> None:
    owner, operator = await api.signup(), await api.signup()
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    await api.create_tenant(owner, "loop-yoga")
    for body, who in (
        ({"custom_domain": "book.loopyoga.example.com"}, owner),
        ({"custom_domain_verified": True}, operator),
    ):
        changed = await client.patch("/api/v1/tenants/loop-yoga", headers=who["headers"], json=body)
        assert changed.status_code == 200, changed.text


async def test_the_hosts_the_platform_serves_are_allowed(
    api: Api, client, owner_db: Owner, settings
) -> None:
    await _studio_with_verified_domain(api, client, owner_db)
    base = settings.base_domain
    for domain, tenant in (
        (base, None),
        (f"loop-yoga.{base}", "loop-yoga"),
        ("book.loopyoga.example.com", "loop-yoga"),
        # DNS names are case-insensitive and may end in the root's dot.
        ("BOOK.LoopYoga.Example.COM.", "loop-yoga"),
        (f"Loop-Yoga.{base.upper()}.", "loop-yoga"),
    ):
        answer = await client.get(ASK, params={"domain": domain})
        assert answer.status_code == 200, (domain, answer.text)
        assert answer.json() == {"domain": domain.lower().rstrip("."), "tenant": tenant}


async def test_anything_else_is_refused(api: Api, client, owner_db: Owner, settings) -> None:
    await _studio_with_verified_domain(api, client, owner_db)
    owner = await api.signup()
    await api.create_tenant(owner, "jozi-hiit")
    # Connected but not verified: no certificate yet.
    await client.patch(
        "/api/v1/tenants/jozi-hiit",
        headers=owner["headers"],
        json={"custom_domain": "jozi.example"},
    )
    base = settings.base_domain
    for domain in (
        "example.com",
        "jozi.example",
        f"nope.{base}",
        f"www.loop-yoga.{base}",  # two labels under the base are no studio's address
        f"marketplace.{base}",  # the platform's own tenant is never served by host
        f"evil{base}",
        f"loop-yoga.{base}.evil.example",
    ):
        assert_error(await client.get(ASK, params={"domain": domain}), 404, "DOMAIN_NOT_SERVED")


async def test_a_studio_out_of_service_gets_no_certificate(
    api: Api, client, owner_db: Owner, settings
) -> None:
    await _studio_with_verified_domain(api, client, owner_db)
    owner_db.rows("UPDATE tenants SET status = 'suspended' WHERE slug = 'loop-yoga'")
    client._transport.app.state.tenant_cache.clear()  # as the change's NOTIFY would
    for domain in (f"loop-yoga.{settings.base_domain}", "book.loopyoga.example.com"):
        assert_error(await client.get(ASK, params={"domain": domain}), 404, "DOMAIN_NOT_SERVED")


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "loop\x00yoga.example.com",
        "a" * 64 + ".example.com",  # a label longer than 63
        ("a" * 60 + ".") * 5,  # 305 characters
        "exa mple.com",
        "-bad.example.com",
        "bad-.example.com",
        "a..b",
        ".",
        "*.example.com",
        "münchen.example",
        "example.com:443",
        "http://example.com",
    ],
)
async def test_junk_is_a_validation_error(client, owner_db: Owner, domain: str) -> None:
    tenants_before = owner_db.value("SELECT count(*) FROM tenants")
    assert_error(await client.get(ASK, params={"domain": domain}), 422, "VALIDATION_ERROR")
    assert owner_db.value("SELECT count(*) FROM tenants") == tenants_before


async def test_without_a_domain_it_is_a_validation_error(client) -> None:
    assert_error(await client.get(ASK), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("raw", ["%ED%A0%80.example", "%FF.example", "a%00b.example", "%C0%AE"])
async def test_bytes_that_are_no_text_are_a_validation_error(client, raw: str) -> None:
    """A lone surrogate or a byte that is not UTF-8, as Caddy would pass it on."""
    assert_error(await client.get(f"{ASK}?domain={raw}"), 422, "VALIDATION_ERROR")
