"""Per-tenant roles: owner > admin > instructor > member, enforced by require_role."""

from __future__ import annotations

from tests.conftest import Api, assert_error


async def test_one_user_many_tenants_with_different_roles(api: Api, client) -> None:
    lerato, sipho = await api.signup(), await api.signup()
    await api.create_tenant(lerato, "loop-yoga")
    await api.create_tenant(sipho, "jozi-hiit")
    await api.join(sipho, "loop-yoga")
    promoted = await client.patch(
        f"/api/v1/tenants/loop-yoga/members/{sipho['user']['id']}",
        headers=lerato["headers"],
        json={"role": "instructor"},
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "instructor"

    profile = (await client.get("/api/v1/users/profile", headers=sipho["headers"])).json()
    roles = {r["tenant_slug"]: r["role"] for r in profile["tenant_roles"]}
    assert roles == {"jozi-hiit": "owner", "loop-yoga": "instructor"}


async def test_members_and_instructors_cannot_manage_members(api: Api, client) -> None:
    owner, instructor, member = await api.signup(), await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await api.join(instructor, "loop-yoga")
    await api.join(member, "loop-yoga")
    await client.patch(
        f"/api/v1/tenants/loop-yoga/members/{instructor['user']['id']}",
        headers=owner["headers"],
        json={"role": "instructor"},
    )
    for user in (instructor, member):
        listing = await client.get("/api/v1/tenants/loop-yoga/members", headers=user["headers"])
        error = assert_error(listing, 403, "INSUFFICIENT_ROLE")
        assert error["details"] == {"required_role": "admin"}


async def test_admins_manage_members_but_only_owners_manage_staff(
    api: Api, client, owner_db
) -> None:
    owner, admin, member = await api.signup(), await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await api.join(admin, "loop-yoga")
    await api.join(member, "loop-yoga")
    path = "/api/v1/tenants/loop-yoga/members"
    await client.patch(
        f"{path}/{admin['user']['id']}", headers=owner["headers"], json={"role": "admin"}
    )

    ok = await client.patch(
        f"{path}/{member['user']['id']}", headers=admin["headers"], json={"role": "instructor"}
    )
    assert ok.status_code == 200
    to_admin = await client.patch(
        f"{path}/{member['user']['id']}", headers=admin["headers"], json={"role": "admin"}
    )
    assert_error(to_admin, 403, "INSUFFICIENT_ROLE")
    demote_owner = await client.patch(
        f"{path}/{owner['user']['id']}", headers=admin["headers"], json={"role": "member"}
    )
    assert_error(demote_owner, 403, "INSUFFICIENT_ROLE")
    assert (
        owner_db.value(
            "SELECT role FROM user_tenant_roles WHERE user_id = %s", member["user"]["id"]
        )
        == "instructor"
    )

    listing = await client.get(path, headers=admin["headers"], params={"role": "instructor"})
    assert [m["email"] for m in listing.json()["items"]] == [member["email"]]


async def test_the_last_owner_stays(api: Api, client) -> None:
    owner, second = await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    path = f"/api/v1/tenants/loop-yoga/members/{owner['user']['id']}"
    alone = await client.patch(path, headers=owner["headers"], json={"role": "admin"})
    assert_error(alone, 409, "LAST_OWNER")
    inactive = await client.patch(path, headers=owner["headers"], json={"status": "inactive"})
    assert_error(inactive, 409, "LAST_OWNER")

    await api.join(second, "loop-yoga")
    await client.patch(
        f"/api/v1/tenants/loop-yoga/members/{second['user']['id']}",
        headers=owner["headers"],
        json={"role": "owner"},
    )
    handed_over = await client.patch(path, headers=owner["headers"], json={"role": "admin"})
    assert handed_over.status_code == 200


async def test_joining_twice_and_unknown_roles(api: Api, client) -> None:
    owner, member = await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await api.join(member, "loop-yoga")
    again = await client.post("/api/v1/tenants/loop-yoga/join", headers=member["headers"])
    assert_error(again, 409, "ALREADY_MEMBER")
    bad_role = await client.patch(
        f"/api/v1/tenants/loop-yoga/members/{member['user']['id']}",
        headers=owner["headers"],
        json={"role": "superhero"},
    )
    assert_error(bad_role, 422, "VALIDATION_ERROR")
    not_uuid = await client.get(
        "/api/v1/tenants/loop-yoga/members/not-a-uuid", headers=owner["headers"]
    )
    assert_error(not_uuid, 422, "VALIDATION_ERROR")


async def test_member_list_pages_with_a_cursor(api: Api, client) -> None:
    owner = await api.signup("a-owner@example.com")
    await api.create_tenant(owner, "loop-yoga")
    for index in range(4):
        await api.join(await api.signup(f"m{index}@example.com"), "loop-yoga")
    path = "/api/v1/tenants/loop-yoga/members"
    first = (await client.get(path, headers=owner["headers"], params={"limit": 3})).json()
    second = (
        await client.get(
            path, headers=owner["headers"], params={"limit": 3, "cursor": first["next_cursor"]}
        )
    ).json()
    emails = [m["email"] for m in first["items"] + second["items"]]
    assert emails == sorted(emails) and len(emails) == 5
    assert second["next_cursor"] is None


async def test_deactivate_and_reactivate_with_the_new_member_fields(
    api: Api, client, owner_db
) -> None:
    owner, member = await api.signup(), await api.signup()
    await api.create_tenant(owner, "loop-yoga")
    await api.join(member, "loop-yoga")
    path = f"/api/v1/tenants/loop-yoga/members/{member['user']['id']}"
    detail = (await client.get(path, headers=owner["headers"])).json()
    membership_id = owner_db.value(
        "SELECT id FROM user_tenant_roles WHERE user_id = %s", member["user"]["id"]
    )
    assert detail["membership_id"] == str(membership_id)
    assert detail["status"] == "active" and detail["joined_at"]
    assert (detail["invited_at"], detail["invited_by_user_id"], detail["expires_at"]) == (
        None,
        None,
        None,
    )

    off = await client.patch(path, headers=owner["headers"], json={"status": "inactive"})
    assert off.json()["status"] == "inactive"
    # An inactive member keeps the row but loses every right in the studio.
    assert_error(
        await client.get("/api/v1/tenants/loop-yoga/members", headers=member["headers"]),
        403,
        "INSUFFICIENT_ROLE",
    )
    bad = await client.patch(path, headers=owner["headers"], json={"status": "invited"})
    assert_error(bad, 422, "VALIDATION_ERROR")
    on = await client.patch(path, headers=owner["headers"], json={"status": "active"})
    assert on.json()["status"] == "active"
    assert owner_db.rows(
        "SELECT action, before, after FROM membership_audit WHERE membership_id = %s "
        "AND action = 'status_changed' ORDER BY created_at",
        membership_id,
    ) == [
        ("status_changed", {"status": "active"}, {"status": "inactive"}),
        ("status_changed", {"status": "inactive"}, {"status": "active"}),
    ]
