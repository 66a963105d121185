"""Weekly rules keep the local time across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from studioloop.scheduling.recurrence import WeeklyRule


def _starts(rule: WeeklyRule) -> list[datetime]:
    return [start for _, start, _ in rule.occurrences(date(2000, 1, 1), date(2100, 1, 1))]


def test_london_keeps_18_00_local_across_the_spring_change() -> None:
    # The clocks go forward on Sunday 28 March 2027.
    rule = WeeklyRule((1,), time(18, 0), 60, "Europe/London", date(2027, 3, 16), None, 4)
    assert _starts(rule) == [
        datetime(2027, 3, 16, 18, 0, tzinfo=UTC),  # GMT
        datetime(2027, 3, 23, 18, 0, tzinfo=UTC),
        datetime(2027, 3, 30, 17, 0, tzinfo=UTC),  # BST: same wall clock, an hour earlier in UTC
        datetime(2027, 4, 6, 17, 0, tzinfo=UTC),
    ]


def test_london_autumn_change_and_until() -> None:
    # The clocks go back on Sunday 31 October 2027.
    rule = WeeklyRule(
        (0, 2), time(7, 30), 45, "Europe/London", date(2027, 10, 25), date(2027, 11, 3), None
    )
    assert _starts(rule) == [
        datetime(2027, 10, 25, 6, 30, tzinfo=UTC),
        datetime(2027, 10, 27, 6, 30, tzinfo=UTC),
        datetime(2027, 11, 1, 7, 30, tzinfo=UTC),
        datetime(2027, 11, 3, 7, 30, tzinfo=UTC),
    ]
    assert rule.last_date() == date(2027, 11, 3)


def test_johannesburg_has_no_daylight_saving() -> None:
    rule = WeeklyRule((1,), time(18, 0), 60, "Africa/Johannesburg", date(2027, 3, 16), None, 4)
    assert {start.time() for start in _starts(rule)} == {time(16, 0)}


def test_a_local_time_inside_the_spring_gap_moves_after_it() -> None:
    rule = WeeklyRule((6,), time(1, 30), 60, "Europe/London", date(2027, 3, 28), None, 1)
    # 01:30 does not exist that night; it is read as 01:30 GMT = 02:30 BST.
    assert _starts(rule) == [datetime(2027, 3, 28, 1, 30, tzinfo=UTC)]


def test_rrule_text() -> None:
    rule = WeeklyRule((0, 2, 4), time(6, 0), 60, "UTC", date(2027, 1, 4), date(2027, 6, 30), None)
    assert rule.as_rrule_text() == "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270630"
