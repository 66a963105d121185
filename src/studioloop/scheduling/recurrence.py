"""Weekly recurrence in a tenant's time zone.

Occurrences are generated as local wall-clock times (dateutil's rrule) and only then given
the zone, so "Tuesdays at 18:00" stays at 18:00 on both sides of a daylight-saving change;
the UTC instant moves instead. A local time that does not exist on a spring-forward day
(01:30 in London) resolves to the hour after the gap, as PEP 495 defines for fold=0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, weekday

RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class WeeklyRule:
    weekdays: tuple[int, ...]  # 0 = Monday
    local_start_time: time
    duration_minutes: int
    timezone: str
    starts_on: date
    until: date | None
    count: int | None

    def _rule(self) -> rrule:
        return rrule(
            WEEKLY,
            byweekday=[weekday(day) for day in self.weekdays],
            dtstart=datetime.combine(self.starts_on, self.local_start_time),
            until=datetime.combine(self.until, time.max) if self.until else None,
            count=self.count,
        )

    def occurrences(
        self, from_date: date, through: date
    ) -> Iterator[tuple[date, datetime, datetime]]:
        """(local date, start UTC, end UTC) for every occurrence in [from_date, through]."""
        zone = ZoneInfo(self.timezone)
        for local in self._rule():
            day = local.date()
            if day > through:
                return
            if day < from_date:
                continue
            start = local.replace(tzinfo=zone).astimezone(UTC)
            yield day, start, start + timedelta(minutes=self.duration_minutes)

    def last_date(self) -> date | None:
        """The series' final local date, or None while it is open-ended in practice."""
        if self.until is not None:
            return self.until
        tail = deque(self._rule(), maxlen=1)  # a counted rule: walk it to its last date
        return tail[0].date() if tail else None

    def local_start(self, day: date) -> tuple[datetime, datetime]:
        """Start and end (UTC) of the occurrence on `day`, with this rule's time and length."""
        start = datetime.combine(day, self.local_start_time, tzinfo=ZoneInfo(self.timezone))
        start_utc = start.astimezone(UTC)
        return start_utc, start_utc + timedelta(minutes=self.duration_minutes)

    def as_rrule_text(self) -> str:
        """RFC 5545 RRULE (for calendars)."""
        parts = ["FREQ=WEEKLY", "BYDAY=" + ",".join(RRULE_DAYS[d] for d in self.weekdays)]
        if self.until is not None:
            parts.append("UNTIL=" + self.until.strftime("%Y%m%d"))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        return ";".join(parts)
