"""Member invitations: invite by email, accept with a single-use token, revoke, history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from studioloop.core import security
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.conftest import Api, Owner, assert_error


async def invite(
    client: httpx.AsyncClient,
    by: dict[str, Any],
    slug: str,
    email: str,
    role: str = "member",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tenants/{slug}/members",
        headers=by["headers"],
        json={
            "email": email,
            "first_name": extra.pop("first_name", "Naledi"),
            "last_name": extra.pop("last_name", "Khumalo"),
            "role": role,
            **extra,
        },
    )


async def accept(client: httpx.AsyncClient, user: dict[str, Any], token: str) -> httpx.Response:
    return await client.post(
        "/api/v1/members/accept-invite", headers=user["headers"], json={"token": token}
    )


def memberships(owner_db: Owner) -> list[tuple[Any, ...]]:
    return owner_db.rows(
        "SELECT tenant_id, user_id, invited_email, role, status, invitation_token_hash "
        "FROM user_tenant_roles ORDER BY id"
    )


def email_count(owner_db: Owner) -> int:
    return int(owner_db.value("SELECT count(*) FROM notifications"))


@pytest.fixture
async def studio(api: Api) -> dict[str, Any]:
    owner = await api.signup("owner@example.com", first_name="Lerato")
    tenant = await api.create_tenant(owner, "loop-yoga", name="Loop Yoga")
    return {"owner": owner, "tenant": tenant}


async def test_invite_then_sign_up_and_accept(
    api: Api, client, owner_db: Owner, studio, settings
) -> None:
    owner = studio["owner"]
    response = await invite(
        client, owner, "loop-yoga", "Naledi@Example.com", role="instructor", phone="+27 82 555 0199"
    )
    assert response.status_code == 201, response.text
    invitation = response.json()
    assert invitation["status"] == "invited" and invitation["user_id"] is None
    assert invitation["email"] == "naledi@example.com"
    assert (invitation["first_name"], invitation["role"]) == ("Naledi", "instructor")
    assert invitation["joined_at"] is None
    assert invitation["invited_by_user_id"] == owner["user"]["id"]
    expires = datetime.fromisoformat(invitation["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    subject, body = owner_db.rows(
        "SELECT subject, body_text FROM notifications WHERE recipient = 'naledi@example.com'"
    )[0]
    assert "Loop Yoga" in subject
    assert "Loop Yoga" in body and "as an instructor" in body and "Lerato User" in body
    token = owner_db.latest_invitation_token("naledi@example.com")
    assert f"{settings.base_url}/accept-invite?token={token}" in body
    stored = owner_db.rows(
        "SELECT invitation_token_hash FROM user_tenant_roles WHERE invited_email = %s",
        "naledi@example.com",
    )
    assert stored == [(security.token_digest(token),)]  # only the hash is kept

    # A newcomer signs up from the link: register, verify, accept.
    naledi = await api.signup("naledi@example.com", first_name="Naledi")
    accepted = await accept(client, naledi, token)
    assert accepted.status_code == 200, accepted.text
    member = accepted.json()
    assert member["tenant_slug"] == "loop-yoga" and member["tenant_name"] == "Loop Yoga"
    assert member["tenant_id"] == studio["tenant"]["id"]
    assert member["membership_id"] == invitation["membership_id"]
    assert (member["user_id"], member["role"], member["status"]) == (
        naledi["user"]["id"],
        "instructor",
        "active",
    )
    assert member["joined_at"] is not None and member["expires_at"] is None
    row = owner_db.rows(
        "SELECT user_id, status, invitation_token_hash, invitation_expires_at, invited_email "
        "FROM user_tenant_roles WHERE id = %s",
        invitation["membership_id"],
    )[0]
    assert (str(row[0]), row[1], row[2], row[3], row[4]) == (
        naledi["user"]["id"],
        "active",
        None,
        None,
        None,
    )
    profile = (await client.get("/api/v1/users/profile", headers=naledi["headers"])).json()
    assert [(r["tenant_slug"], r["role"]) for r in profile["tenant_roles"]] == [
        ("loop-yoga", "instructor")
    ]

    # The token works once; a used token looks exactly like an unknown one.
    before = memberships(owner_db)
    used = assert_error(await accept(client, naledi, token), 404, "INVITATION_NOT_FOUND")
    unknown = assert_error(
        await accept(client, naledi, security.new_opaque_token()), 404, "INVITATION_NOT_FOUND"
    )
    assert used["message"] == unknown["message"] and used["details"] == unknown["details"]
    assert memberships(owner_db) == before


async def test_reinvite_refreshes_the_token_and_expiry(
    api: Api, client, owner_db: Owner, studio
) -> None:
    owner = studio["owner"]
    first = await invite(client, owner, "loop-yoga", "naledi@example.com")
    old_token = owner_db.latest_invitation_token("naledi@example.com")
    owner_db.rows(
        "UPDATE user_tenant_roles SET invitation_expires_at = now() + interval '1 hour' "
        "WHERE invited_email = 'naledi@example.com'"
    )
    again = await invite(
        client, owner, "loop-yoga", "naledi@example.com", role="instructor", first_name="Nal"
    )
    assert again.status_code == 200, again.text
    refreshed = again.json()
    assert refreshed["membership_id"] == first.json()["membership_id"]
    assert (refreshed["first_name"], refreshed["role"]) == ("Nal", "instructor")
    assert datetime.fromisoformat(refreshed["expires_at"]) > datetime.now(UTC) + timedelta(days=6)
    new_token = owner_db.latest_invitation_token("naledi@example.com")
    assert new_token != old_token
    assert email_count(owner_db) == 3  # owner's sign-up code + two invitations
    assert (
        owner_db.value(
            "SELECT count(*) FROM user_tenant_roles WHERE invited_email = 'naledi@example.com'"
        )
        == 1
    )

    naledi = await api.signup("naledi@example.com")
    assert_error(await accept(client, naledi, old_token), 404, "INVITATION_NOT_FOUND")
    accepted = await accept(client, naledi, new_token)
    assert accepted.status_code == 200 and accepted.json()["role"] == "instructor"


async def test_expired_invitation_is_refused_and_left_as_is(
    api: Api, client, owner_db: Owner, studio
) -> None:
    await invite(client, studio["owner"], "loop-yoga", "naledi@example.com")
    token = owner_db.latest_invitation_token("naledi@example.com")
    owner_db.rows(
        "UPDATE user_tenant_roles SET invitation_expires_at = now() - interval '1 minute' "
        "WHERE invited_email = 'naledi@example.com'"
    )
    naledi = await api.signup("naledi@example.com")
    before = memberships(owner_db)
    assert_error(await accept(client, naledi, token), 400, "INVITATION_EXPIRED")
    assert memberships(owner_db) == before
    # Inviting again is the way out: a fresh link that works.
    await invite(client, studio["owner"], "loop-yoga", "naledi@example.com")
    fresh = owner_db.latest_invitation_token("naledi@example.com")
    assert (await accept(client, naledi, fresh)).status_code == 200


async def test_accepting_needs_a_signed_in_user_and_a_plausible_token(
    api: Api, client, owner_db: Owner, studio
) -> None:
    await invite(client, studio["owner"], "loop-yoga", "naledi@example.com")
    token = owner_db.latest_invitation_token("naledi@example.com")
    before = memberships(owner_db)
    anonymous = await client.post("/api/v1/members/accept-invite", json={"token": token})
    assert_error(anonymous, 401, "UNAUTHORIZED")
    someone = await api.signup()
    assert_error(await accept(client, someone, "short"), 422, "VALIDATION_ERROR")
    missing = await client.post(
        "/api/v1/members/accept-invite", headers=someone["headers"], json={}
    )
    assert_error(missing, 422, "VALIDATION_ERROR")
    assert memberships(owner_db) == before


async def test_inviting_someone_already_active_is_a_conflict(
    api: Api, client, owner_db: Owner, studio
) -> None:
    member = await api.signup("member@example.com")
    await api.join(member, "loop-yoga")
    before, emails = memberships(owner_db), email_count(owner_db)
    for email in ("member@example.com", "MEMBER@example.com", "owner@example.com"):
        error = assert_error(
            await invite(client, studio["owner"], "loop-yoga", email), 409, "ALREADY_MEMBER"
        )
        assert error["details"] == {"field": "email"}
    assert memberships(owner_db) == before
    assert email_count(owner_db) == emails


async def test_an_active_member_cannot_accept_another_invitation_to_the_same_studio(
    api: Api, client, owner_db: Owner, studio
) -> None:
    member = await api.signup("member@example.com")
    await api.join(member, "loop-yoga")
    # Invited under another address (say, a work email), then accepted while signed in.
    await invite(client, studio["owner"], "loop-yoga", "work@example.com", role="instructor")
    token = owner_db.latest_invitation_token("work@example.com")
    before = memberships(owner_db)
    assert_error(await accept(client, member, token), 409, "ALREADY_MEMBER")
    assert memberships(owner_db) == before


async def test_an_inactive_member_is_reactivated_by_accepting(
    api: Api, client, owner_db: Owner, studio
) -> None:
    owner = studio["owner"]
    member = await api.signup("member@example.com")
    await api.join(member, "loop-yoga")
    member_id = member["user"]["id"]
    membership_id = owner_db.value("SELECT id FROM user_tenant_roles WHERE user_id = %s", member_id)
    path = f"/api/v1/tenants/loop-yoga/members/{member_id}"
    assert (
        await client.patch(path, headers=owner["headers"], json={"status": "inactive"})
    ).status_code == 200

    invited = await invite(client, owner, "loop-yoga", "member@example.com", role="instructor")
    assert invited.status_code == 201, invited.text
    invitation_id = invited.json()["membership_id"]
    token = owner_db.latest_invitation_token("member@example.com")
    accepted = await accept(client, member, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["membership_id"] == str(membership_id)
    assert owner_db.rows(
        "SELECT id, user_id, role, status FROM user_tenant_roles WHERE tenant_id = %s "
        "AND (user_id = %s OR user_id IS NULL)",
        studio["tenant"]["id"],
        member_id,
    ) == [(membership_id, uuid.UUID(member_id), "instructor", "active")]

    history = (await client.get(f"{path}/history", headers=owner["headers"])).json()["items"]
    assert [entry["action"] for entry in history] == [
        "invitation_accepted",
        "invited",
        "status_changed",
        "joined",
    ]
    accepted_entry = history[0]
    assert accepted_entry["before"]["invitation_id"] == invitation_id
    assert accepted_entry["before"]["status"] == "inactive"
    assert accepted_entry["after"] == {
        "status": "active",
        "role": "instructor",
        "user_id": member_id,
    }


async def test_who_may_invite_whom(api: Api, client, owner_db: Owner, studio) -> None:
    owner = studio["owner"]
    admin, instructor, member = await api.signup(), await api.signup(), await api.signup()
    for user, role in ((admin, "admin"), (instructor, "instructor"), (member, "member")):
        await api.join(user, "loop-yoga")
        if role != "member":
            await client.patch(
                f"/api/v1/tenants/loop-yoga/members/{user['user']['id']}",
                headers=owner["headers"],
                json={"role": role},
            )
    before, emails = memberships(owner_db), email_count(owner_db)
    for user in (member, instructor):
        error = assert_error(
            await invite(client, user, "loop-yoga", "x@example.com"), 403, "INSUFFICIENT_ROLE"
        )
        assert error["details"] == {"required_role": "admin"}
    for role in ("admin", "owner"):
        error = assert_error(
            await invite(client, admin, "loop-yoga", "x@example.com", role=role),
            403,
            "INSUFFICIENT_ROLE",
        )
        assert error["details"] == {"required_role": "owner"}
    assert memberships(owner_db) == before
    assert email_count(owner_db) == emails

    for role in ("member", "instructor"):
        ok = await invite(client, admin, "loop-yoga", f"{role}@example.com", role=role)
        assert ok.status_code == 201, ok.text
    by_owner = await invite(client, owner, "loop-yoga", "boss@example.com", role="admin")
    assert by_owner.status_code == 201 and by_owner.json()["role"] == "admin"

    # An admin cannot touch an invitation to a staff role an owner sent.
    before = memberships(owner_db)
    assert_error(
        await invite(client, admin, "loop-yoga", "boss@example.com", role="member"),
        403,
        "INSUFFICIENT_ROLE",
    )
    revoke = await client.delete(
        f"/api/v1/tenants/loop-yoga/members/invitations/{by_owner.json()['membership_id']}",
        headers=admin["headers"],
    )
    assert_error(revoke, 403, "INSUFFICIENT_ROLE")
    assert memberships(owner_db) == before


async def test_bad_invitations_change_nothing(client, owner_db: Owner, studio) -> None:
    owner = studio["owner"]
    before, emails = memberships(owner_db), email_count(owner_db)
    path = "/api/v1/tenants/loop-yoga/members"
    for body in (
        {"email": "not-an-email", "first_name": "A", "last_name": "B"},
        {"email": "a@example.com", "first_name": "", "last_name": "B"},
        {"email": "a@example.com", "first_name": "A"},
        {"email": "a@example.com", "first_name": "A", "last_name": "B", "phone": "call me"},
        {"email": "a@example.com", "first_name": "A", "last_name": "B", "role": "superhero"},
        {"email": "a@example.com", "first_name": "A", "last_name": "B", "extra": 1},
    ):
        assert_error(
            await client.post(path, headers=owner["headers"], json=body), 422, "VALIDATION_ERROR"
        )
    no_tenant = await client.post(
        "/api/v1/members",
        headers=owner["headers"],
        json={"email": "a@example.com", "first_name": "A", "last_name": "B"},
    )
    assert_error(no_tenant, 400, "TENANT_REQUIRED")
    assert memberships(owner_db) == before
    assert email_count(owner_db) == emails


async def test_the_header_route_invites_too(client, owner_db: Owner, studio) -> None:
    response = await client.post(
        "/api/v1/members",
        headers={**studio["owner"]["headers"], "X-Tenant-ID": "loop-yoga"},
        json={"email": "naledi@example.com", "first_name": "Naledi", "last_name": "Khumalo"},
    )
    assert response.status_code == 201, response.text
    assert owner_db.value(
        "SELECT tenant_id FROM user_tenant_roles WHERE invited_email = 'naledi@example.com'"
    ) == uuid.UUID(studio["tenant"]["id"])


async def test_a_token_gives_membership_of_its_own_studio_only(
    api: Api, client, owner_db: Owner
) -> None:
    owner_a, owner_b = await api.signup(), await api.signup()
    a = await api.create_tenant(owner_a, "studio-a")
    b = await api.create_tenant(owner_b, "studio-b")
    await invite(client, owner_b, "studio-b", "x@example.com")
    token_b = owner_db.latest_invitation_token("x@example.com")
    await invite(client, owner_a, "studio-a", "x@example.com", role="instructor")
    token_a = owner_db.latest_invitation_token("x@example.com")
    x = await api.signup("x@example.com")
    # The tenant comes from the token, whatever studio the request names.
    accepted = await client.post(
        "/api/v1/members/accept-invite",
        headers={**x["headers"], "X-Tenant-ID": "studio-b"},
        json={"token": token_a},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["tenant_slug"] == "studio-a"
    assert owner_db.rows(
        "SELECT tenant_id, role, status FROM user_tenant_roles WHERE user_id = %s",
        x["user"]["id"],
    ) == [(uuid.UUID(a["id"]), "instructor", "active")]
    assert owner_db.rows(
        "SELECT status FROM user_tenant_roles WHERE tenant_id = %s AND invited_email = %s",
        b["id"],
        "x@example.com",
    ) == [("invited",)]
    assert (await accept(client, x, token_b)).json()["tenant_slug"] == "studio-b"


async def test_an_admin_of_a_cannot_see_or_revoke_invitations_of_b(
    api: Api, client, owner_db: Owner
) -> None:
    owner_a, owner_b = await api.signup(), await api.signup()
    await api.create_tenant(owner_a, "studio-a")
    await api.create_tenant(owner_b, "studio-b")
    invited = await invite(client, owner_b, "studio-b", "x@example.com")
    invitation_id = invited.json()["membership_id"]
    headers = owner_a["headers"]
    before = memberships(owner_db)
    for response in (
        await client.get(
            f"/api/v1/tenants/studio-a/members/invitations/{invitation_id}", headers=headers
        ),
        await client.delete(
            f"/api/v1/tenants/studio-a/members/invitations/{invitation_id}", headers=headers
        ),
        await client.get(
            f"/api/v1/tenants/studio-a/members/invitations/{uuid.uuid4()}", headers=headers
        ),
    ):
        assert_error(response, 404, "INVITATION_NOT_FOUND")
    for response in (
        await client.get("/api/v1/tenants/studio-b/members", headers=headers),
        await client.get(
            f"/api/v1/tenants/studio-b/members/invitations/{invitation_id}", headers=headers
        ),
        await client.delete(
            f"/api/v1/tenants/studio-b/members/invitations/{invitation_id}", headers=headers
        ),
        await invite(client, owner_a, "studio-b", "y@example.com"),
    ):
        assert_error(response, 403, "INSUFFICIENT_ROLE")
    listing = await client.get(
        "/api/v1/tenants/studio-a/members", headers=headers, params={"status": "invited"}
    )
    assert listing.json()["items"] == []
    assert memberships(owner_db) == before


async def test_revoking_an_invitation(api: Api, client, owner_db: Owner, studio) -> None:
    owner = studio["owner"]
    invited = (await invite(client, owner, "loop-yoga", "naledi@example.com")).json()
    token = owner_db.latest_invitation_token("naledi@example.com")
    path = f"/api/v1/tenants/loop-yoga/members/invitations/{invited['membership_id']}"
    seen = await client.get(path, headers=owner["headers"])
    assert seen.status_code == 200 and seen.json()["email"] == "naledi@example.com"

    assert (await client.delete(path, headers=owner["headers"])).status_code == 204
    assert_error(await client.get(path, headers=owner["headers"]), 404, "INVITATION_NOT_FOUND")
    assert_error(await client.delete(path, headers=owner["headers"]), 404, "INVITATION_NOT_FOUND")
    naledi = await api.signup("naledi@example.com")
    assert_error(await accept(client, naledi, token), 404, "INVITATION_NOT_FOUND")
    assert (
        owner_db.value(
            "SELECT count(*) FROM user_tenant_roles WHERE invited_email = 'naledi@example.com'"
        )
        == 0
    )
    actions = owner_db.rows(
        "SELECT action, actor_user_id, before->>'email' FROM membership_audit "
        "WHERE membership_id = %s ORDER BY created_at",
        invited["membership_id"],
    )
    owner_id = uuid.UUID(owner["user"]["id"])
    assert actions == [
        ("invited", owner_id, None),
        ("invitation_revoked", owner_id, "naledi@example.com"),
    ]


async def test_invitations_are_not_memberships(api: Api, client, owner_db: Owner, studio) -> None:
    owner = studio["owner"]
    naledi = await api.signup("naledi@example.com")
    await invite(client, owner, "loop-yoga", "naledi@example.com", role="admin")
    # Pending: no studio in the profile, no rights, not reachable as a member by user id.
    profile = (await client.get("/api/v1/users/profile", headers=naledi["headers"])).json()
    assert profile["tenant_roles"] == []
    listing = await client.get("/api/v1/tenants/loop-yoga/members", headers=naledi["headers"])
    assert_error(listing, 403, "INSUFFICIENT_ROLE")
    path = f"/api/v1/tenants/loop-yoga/members/{naledi['user']['id']}"
    assert_error(await client.get(path, headers=owner["headers"]), 404, "MEMBER_NOT_FOUND")
    patched = await client.patch(path, headers=owner["headers"], json={"status": "active"})
    assert_error(patched, 404, "MEMBER_NOT_FOUND")
    history = await client.get(f"{path}/history", headers=owner["headers"])
    assert_error(history, 404, "MEMBER_NOT_FOUND")
    joined = await client.post("/api/v1/tenants/loop-yoga/join", headers=naledi["headers"])
    assert joined.status_code == 201  # joining on one's own stays possible


async def test_search_by_name_email_and_phone_and_filter_by_status(
    api: Api, client, owner_db: Owner, studio
) -> None:
    owner = studio["owner"]
    thabo = await api.signup("thabo@example.com", first_name="Thabo")
    await api.join(thabo, "loop-yoga")
    await client.put(
        "/api/v1/users/profile",
        headers=thabo["headers"],
        json={"last_name": "Mokoena", "phone": "+27 82 555 0101"},
    )
    await invite(client, owner, "loop-yoga", "naledi@example.com", phone="+27 (83) 444-0199")
    gone = await api.signup("gone@example.com", first_name="Gone")
    await api.join(gone, "loop-yoga")
    await client.patch(
        f"/api/v1/tenants/loop-yoga/members/{gone['user']['id']}",
        headers=owner["headers"],
        json={"status": "inactive"},
    )

    async def emails(**params: str) -> list[str]:
        response = await client.get(
            "/api/v1/tenants/loop-yoga/members", headers=owner["headers"], params=params
        )
        assert response.status_code == 200, response.text
        return [m["email"] for m in response.json()["items"]]

    assert await emails() == [
        "gone@example.com",
        "naledi@example.com",
        "owner@example.com",
        "thabo@example.com",
    ]
    assert await emails(q="thabo mokoena") == ["thabo@example.com"]
    assert await emails(q="MOKOENA") == ["thabo@example.com"]
    assert await emails(q="Naledi Khumalo") == ["naledi@example.com"]
    assert await emails(q="khumalo") == ["naledi@example.com"]
    assert await emails(q="naledi@") == ["naledi@example.com"]
    assert await emails(q="082 555 0101") == ["thabo@example.com"]
    assert await emails(q="+27825550101") == ["thabo@example.com"]
    assert await emails(q="444-0199") == ["naledi@example.com"]
    assert await emails(q="0834440199") == ["naledi@example.com"]
    assert await emails(q="%") == []  # wildcards are literal
    assert await emails(q="_") == []
    assert await emails(status="invited") == ["naledi@example.com"]
    assert await emails(status="inactive") == ["gone@example.com"]
    assert await emails(status="active") == ["owner@example.com", "thabo@example.com"]
    assert await emails(status="invited", q="thabo") == []
    assert await emails(role="owner", status="active") == ["owner@example.com"]
    bad = await client.get(
        "/api/v1/tenants/loop-yoga/members",
        headers=owner["headers"],
        params={"status": "banned"},
    )
    assert_error(bad, 422, "VALIDATION_ERROR")

    # The cursor walks members and invitations alike, by email.
    first = await client.get(
        "/api/v1/tenants/loop-yoga/members", headers=owner["headers"], params={"limit": 2}
    )
    second = await client.get(
        "/api/v1/tenants/loop-yoga/members",
        headers=owner["headers"],
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
    )
    assert [m["email"] for m in first.json()["items"] + second.json()["items"]] == await emails()
    assert second.json()["next_cursor"] is None
    pending = first.json()["items"][1]
    assert pending["status"] == "invited" and pending["user_id"] is None
    assert pending["phone"] == "+27 (83) 444-0199" and pending["expires_at"]


async def test_history_records_every_change_newest_first(
    api: Api, client, owner_db: Owner, studio
) -> None:
    owner = studio["owner"]
    owner_id = owner["user"]["id"]
    member = await api.signup()
    await api.join(member, "loop-yoga")
    path = f"/api/v1/tenants/loop-yoga/members/{member['user']['id']}"
    await client.patch(path, headers=owner["headers"], json={"role": "instructor"})
    await client.patch(path, headers=owner["headers"], json={"status": "inactive"})
    await client.patch(path, headers=owner["headers"], json={"status": "active", "role": "admin"})
    await client.patch(path, headers=owner["headers"], json={"role": "admin"})  # no change

    response = await client.get(f"{path}/history", headers=owner["headers"])
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(e["action"], e["before"], e["after"]) for e in items] == [
        ("status_changed", {"status": "inactive"}, {"status": "active"}),
        ("role_changed", {"role": "instructor"}, {"role": "admin"}),
        ("status_changed", {"status": "active"}, {"status": "inactive"}),
        ("role_changed", {"role": "member"}, {"role": "instructor"}),
        ("joined", None, {"role": "member", "status": "active"}),
    ]
    assert [e["actor_user_id"] for e in items] == [owner_id] * 4 + [member["user"]["id"]]
    assert {e["user_id"] for e in items} == {member["user"]["id"]}

    page = await client.get(f"{path}/history", headers=owner["headers"], params={"limit": 2})
    rest = await client.get(
        f"{path}/history",
        headers=owner["headers"],
        params={"limit": 3, "cursor": page.json()["next_cursor"]},
    )
    assert [e["id"] for e in page.json()["items"] + rest.json()["items"]] == [
        e["id"] for e in items
    ]
    assert rest.json()["next_cursor"] is None

    owner_history = await client.get(
        f"/api/v1/tenants/loop-yoga/members/{owner_id}/history", headers=owner["headers"]
    )
    assert [(e["action"], e["after"]) for e in owner_history.json()["items"]] == [
        ("joined", {"role": "owner", "status": "active"})
    ]
    plain = await api.signup()
    await api.join(plain, "loop-yoga")
    denied = await client.get(f"{path}/history", headers=plain["headers"])
    assert_error(denied, 403, "INSUFFICIENT_ROLE")
    unknown = await client.get(
        f"/api/v1/tenants/loop-yoga/members/{uuid.uuid4()}/history", headers=owner["headers"]
    )
    assert_error(unknown, 404, "MEMBER_NOT_FOUND")
    bad_cursor = await client.get(
        f"{path}/history", headers=owner["headers"], params={"cursor": "bm90LWpzb24"}
    )
    assert_error(bad_cursor, 422, "VALIDATION_ERROR")


async def test_invitation_history_follows_the_member(
    api: Api, client, owner_db: Owner, studio
) -> None:
    owner = studio["owner"]
    await invite(client, owner, "loop-yoga", "naledi@example.com")
    await invite(client, owner, "loop-yoga", "naledi@example.com", role="instructor")
    naledi = await api.signup("naledi@example.com")
    await accept(client, naledi, owner_db.latest_invitation_token("naledi@example.com"))
    history = await client.get(
        f"/api/v1/tenants/loop-yoga/members/{naledi['user']['id']}/history",
        headers=owner["headers"],
    )
    items = history.json()["items"]
    assert [e["action"] for e in items] == ["invitation_accepted", "reinvited", "invited"]
    assert items[1]["before"]["role"] == "member" and items[1]["after"]["role"] == "instructor"
    assert items[0]["actor_user_id"] == naledi["user"]["id"]
    assert items[2]["actor_user_id"] == owner["user"]["id"]
    assert items[2]["after"]["email"] == "naledi@example.com"


async def test_the_history_cannot_be_rewritten_by_the_app(
    api: Api, database, owner_db: Owner, studio
) -> None:
    tenant_id = uuid.UUID(studio["tenant"]["id"])
    rows = owner_db.value("SELECT count(*) FROM membership_audit")
    assert rows == 1
    for statement in (
        "UPDATE membership_audit SET action = 'role_changed'",
        "DELETE FROM membership_audit",
    ):
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            with pytest.raises(DBAPIError, match="permission denied"):
                await session.execute(text(statement))
            await session.rollback()
    # Other tenants' history is invisible and cannot be written into either.
    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.uuid4())
        assert await session.scalar(text("SELECT count(*) FROM membership_audit")) == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.execute(
                text(
                    "INSERT INTO membership_audit (tenant_id, membership_id, action) "
                    "VALUES (:t, :m, 'joined')"
                ),
                {"t": tenant_id, "m": uuid.uuid4()},
            )
        await session.rollback()
    assert owner_db.value("SELECT count(*) FROM membership_audit") == rows


async def test_the_invitation_is_invisible_without_its_token(
    api: Api, client, database, owner_db: Owner, studio
) -> None:
    await invite(client, studio["owner"], "loop-yoga", "naledi@example.com")
    token = owner_db.latest_invitation_token("naledi@example.com")
    async with database.sessionmaker() as session:
        count = text("SELECT count(*) FROM user_tenant_roles")
        assert await session.scalar(count) == 0
        await session.execute(
            text("SELECT set_config('app.invitation_token_hash', :h, true)"),
            {"h": security.token_digest("some-other-token")},
        )
        assert await session.scalar(count) == 0
        await session.execute(
            text("SELECT set_config('app.invitation_token_hash', :h, true)"),
            {"h": security.token_digest(token)},
        )
        assert await session.scalar(count) == 1
        # Seeing the row by its token does not allow changing it.
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.execute(text("UPDATE user_tenant_roles SET role = 'owner'"))
        await session.rollback()
    assert owner_db.value("SELECT role FROM user_tenant_roles WHERE user_id IS NULL") == "member"
