"""Every message renders on every channel; short forms fit an SMS; translations and an
operator's own wording are found first."""

from __future__ import annotations

from pathlib import Path

import pytest

from studioloop.config import get_settings
from studioloop.notifications import rendering
from studioloop.notifications.events import EVENTS
from studioloop.notifications.manage import SAMPLE_CONTEXT

CONTEXT = SAMPLE_CONTEXT


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_renders_and_its_text_fits_an_sms(event: str) -> None:
    email = rendering.render_email(event, CONTEXT)
    assert email.subject and email.text.strip() and email.html.strip()
    if not EVENTS[event].email_only:
        text = rendering.render_text(event, CONTEXT)
        assert 0 < len(text) <= rendering.SMS_LIMIT, text
        params = rendering.whatsapp_parameters(event, CONTEXT)
        assert len(params) == len(EVENTS[event].whatsapp_params) and all(params)


def test_translations_and_operator_wording_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "af" / "text").mkdir(parents=True)
    (tmp_path / "af" / "text" / "class_reminder.txt").write_text(
        "Herinnering: {{ class_name }} om {{ start }}."
    )
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "checkin_confirmed.txt").write_text("Welcome in, {{ first_name }}!")
    monkeypatch.setenv("NOTIFICATION_TEMPLATES_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert rendering.render_text("class_reminder", CONTEXT, locale="af") == (
            "Herinnering: Morning Yoga om Sat 05 Dec 09:00."
        )
        assert rendering.render_text("class_reminder", CONTEXT).startswith("Reminder:")
        assert rendering.render_text("booking_confirmed", CONTEXT, locale="af").startswith(
            "Booked:"
        )  # no translation yet: English
        assert rendering.render_text("checkin_confirmed", CONTEXT) == "Welcome in, Naledi!"
    finally:
        monkeypatch.delenv("NOTIFICATION_TEMPLATES_DIR")
        get_settings.cache_clear()
