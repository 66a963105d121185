"""iCalendar (RFC 5545) feeds of a studio's timetable, built with the `icalendar` library."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event

from studioloop.scheduling.schemas import OccurrenceOut


def timetable_calendar(
    studio_name: str, slug: str, base_url: str, occurrences: list[OccurrenceOut]
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//StudioLoop//Timetable//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{studio_name} timetable")
    stamp = datetime.now(UTC)
    for occ in occurrences:
        event = Event()
        event.add("uid", f"{occ.id}@studioloop")
        event.add("dtstamp", stamp)
        event.add("dtstart", occ.start_time.astimezone(UTC))
        event.add("dtend", occ.end_time.astimezone(UTC))
        teacher = f" with {occ.instructor.first_name}" if occ.instructor else ""
        event.add("summary", f"{occ.cls.name}{teacher}")
        place = ", ".join(p.name for p in (occ.location, occ.room) if p)
        if place:
            event.add("location", place)
        event.add("url", f"{base_url}/api/v1/tenants/{slug}/schedules/{occ.id}")
        if occ.status == "cancelled":
            event.add("status", "CANCELLED")
            event.add("description", occ.cancellation_reason or "Cancelled")
        else:
            event.add("status", "CONFIRMED")
            event.add("description", f"{occ.available_spots} of {occ.capacity} places free")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
