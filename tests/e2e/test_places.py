"""An owner on a phone, with only the web app, gives the studio its first place: adds a
location with its map position and a room, then a class there, which the marketplace's
distance search can now find."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import Owner
from tests.e2e.test_owner_pages import _sign_in
from tests.e2e.test_sandbox_checkout import _studio


def test_an_owner_adds_a_place_with_a_room_then_a_class_there(
    page: Page, live_server: str, owner_db: Owner, shot
) -> None:
    _studio(live_server, owner_db)
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, live_server, "/s/loop-yoga/admin/classes")
    expect(page.get_by_text("This studio has no places yet").first).to_be_visible()
    page.get_by_role("link", name="Add a location").first.click()
    expect(page.get_by_role("heading", name="Places", exact=True)).to_be_visible()

    form = page.locator("#add")
    form.get_by_label("Name").fill("Sea Point")
    form.get_by_label("Street").fill("1 Beach Road")
    form.get_by_label("City").fill("Cape Town")
    form.get_by_label("Country code").fill("ZA")
    form.get_by_label("Latitude").fill("-33.9153")
    form.get_by_label("Longitude").fill("north")  # a slip: refused, nothing saved
    form.get_by_role("button", name="Add location").click()
    expect(page.locator("#new-longitude-error")).to_contain_text("A longitude is a number")
    expect(page.locator("#add #form-error")).to_have_text(
        "Nothing was saved: see the marked fields."
    )
    assert owner_db.value("SELECT count(*) FROM locations") == 0
    shot(page, "places-phone-refused")
    page.locator("#new-longitude").fill("18.3856")
    page.locator("#add").get_by_role("button", name="Add location").click()
    expect(page.get_by_role("status")).to_contain_text("The place is added")

    place = page.locator("li.place")
    expect(place).to_contain_text("1 Beach Road, Cape Town, ZA")
    place.get_by_label("Room name").fill("Deck")
    place.get_by_label("People it holds").fill("14")
    place.get_by_role("button", name="Add room").click()
    expect(page.get_by_role("status")).to_contain_text("The room is added")
    expect(page.locator("li.place")).to_contain_text("Deck · 14 people")
    shot(page, "places-phone-list")
    assert owner_db.rows("SELECT latitude, longitude FROM locations") == [(-33.9153, 18.3856)]

    page.locator("nav.admin-nav").get_by_role("link", name="Classes").click()
    page.get_by_label("Name").fill("Sunset Flow")
    page.get_by_label("Type").fill("yoga")
    page.locator("#location_id").select_option(label="Sea Point")
    page.locator("#room_id").select_option(label="Sea Point · Deck (14 places)")
    page.get_by_role("button", name="Add class").click()
    expect(page.get_by_role("status")).to_contain_text("The class is added")
    assert owner_db.rows(
        "SELECT c.name, l.name, r.name FROM classes c JOIN locations l ON l.id = c.location_id "
        "JOIN rooms r ON r.id = c.room_id"
    ) == [("Sunset Flow", "Sea Point", "Deck")]

    page.get_by_role("link", name="Sunset Flow").click()
    expect(page.locator("#location_id")).to_have_value(
        str(owner_db.value("SELECT id FROM locations"))
    )
    shot(page, "places-phone-class")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width"
