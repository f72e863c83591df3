"""Local event times: Riga (EU daylight saving) and Bangkok (none), the clock-change
days, half-hour offsets, parsing what a datetime-local field sends, and the filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engage.errors import InvalidInput
from engage.events.timefmt import (
    format_local_datetime,
    format_local_time,
    parse_local,
    to_local,
    to_utc,
    utc_offset_label,
    zone_label,
)
from engage.mail.render import Renderer
from engage.web.templating import make_templates
from tests.conftest import make_settings

RIGA = "Europe/Riga"
BANGKOK = "Asia/Bangkok"


def test_riga_on_the_day_the_clocks_go_forward():
    # 2026-03-29: EET (UTC+2) becomes EEST (UTC+3) at 03:00 local.
    starts = to_utc(datetime(2026, 3, 29, 18, 0), RIGA)
    assert starts == datetime(2026, 3, 29, 15, 0, tzinfo=UTC)
    assert format_local_time(starts, RIGA) == "18:00 Riga time (UTC+3)"
    assert format_local_datetime(starts, RIGA) == "Sunday 29 March 2026, 18:00 Riga time (UTC+3)"


def test_riga_the_day_before_is_still_winter_time():
    starts = to_utc(datetime(2026, 3, 28, 18, 0), RIGA)
    assert starts == datetime(2026, 3, 28, 16, 0, tzinfo=UTC)
    assert format_local_time(starts, RIGA) == "18:00 Riga time (UTC+2)"


def test_a_time_skipped_by_the_clocks_does_not_exist():
    with pytest.raises(InvalidInput) as caught:
        to_utc(datetime(2026, 3, 29, 3, 30), RIGA, field="starts_at")
    message = str(caught.value)
    assert "does not exist in Riga time: clocks go forward" in message
    assert "03:30 on Sunday 29 March 2026" in message
    assert caught.value.fields == {"starts_at": message}
    # Either side of the gap is fine.
    assert to_utc(datetime(2026, 3, 29, 2, 59), RIGA) == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert to_utc(datetime(2026, 3, 29, 4, 0), RIGA) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_a_time_that_happens_twice_takes_the_first():
    # 2026-10-25: 04:00 EEST goes back to 03:00 EET, so 03:30 happens twice.
    first = to_utc(datetime(2026, 10, 25, 3, 30), RIGA)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert format_local_time(first, RIGA) == "03:30 Riga time (UTC+3)"
    second = first + timedelta(hours=1)
    assert format_local_time(second, RIGA) == "03:30 Riga time (UTC+2)"
    evening = to_utc(datetime(2026, 10, 25, 18, 0), RIGA)
    assert evening == datetime(2026, 10, 25, 16, 0, tzinfo=UTC)
    assert format_local_time(evening, RIGA) == "18:00 Riga time (UTC+2)"


def test_bangkok_has_no_daylight_saving():
    for day in (datetime(2026, 1, 15, 18, 0), datetime(2026, 3, 29, 18, 0), datetime(2026, 7, 1)):
        instant = to_utc(day, BANGKOK)
        assert instant == (day - timedelta(hours=7)).replace(tzinfo=UTC)
        assert utc_offset_label(instant, BANGKOK) == "UTC+7"
    reception = to_utc(datetime(2026, 3, 27, 18, 30), BANGKOK)
    assert format_local_datetime(reception, BANGKOK) == (
        "Friday 27 March 2026, 18:30 Bangkok time (UTC+7)"
    )


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Asia/Kolkata", "UTC+5:30"),
        ("Asia/Kathmandu", "UTC+5:45"),
        ("America/St_Johns", "UTC-3:30"),  # Newfoundland in winter
        ("America/Sao_Paulo", "UTC-3"),
        ("UTC", "UTC"),
        ("Europe/London", "UTC"),  # GMT in winter
    ],
)
def test_offset_labels(tz, expected):
    assert utc_offset_label(datetime(2026, 1, 15, 12, 0, tzinfo=UTC), tz) == expected


def test_kolkata_time_in_full():
    instant = to_utc(datetime(2026, 3, 27, 18, 0), "Asia/Kolkata")
    assert instant == datetime(2026, 3, 27, 12, 30, tzinfo=UTC)
    assert format_local_time(instant, "Asia/Kolkata") == "18:00 Kolkata time (UTC+5:30)"


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Europe/Riga", "Riga time"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires time"),
        ("Africa/Dar_es_Salaam", "Dar es Salaam time"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_zone_labels(tz, expected):
    assert zone_label(tz) == expected


def test_utc_is_shown_without_a_repeated_offset():
    instant = datetime(2026, 3, 27, 18, 0, tzinfo=UTC)
    assert format_local_time(instant, "UTC") == "18:00 UTC"


def test_to_local_is_aware_in_the_zone_and_naive_instants_are_utc():
    local = to_local(datetime(2026, 3, 29, 15, 0), RIGA)
    assert local.utcoffset() == timedelta(hours=3)
    assert (local.hour, local.minute) == (18, 0)
    assert str(local.tzinfo) == RIGA


def test_an_aware_time_is_only_converted():
    aware = datetime(2026, 3, 29, 18, 0, tzinfo=timezone(timedelta(hours=3)))
    assert to_utc(aware, BANGKOK) == datetime(2026, 3, 29, 15, 0, tzinfo=UTC)


def test_an_unknown_zone_is_invalid_input():
    with pytest.raises(InvalidInput) as caught:
        to_utc(datetime(2026, 3, 29, 18, 0), "Mars/Olympus_Mons")
    assert "timezone" in caught.value.fields


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-27T18:00", datetime(2026, 3, 27, 18, 0)),
        ("2026-03-27T18:00:30", datetime(2026, 3, 27, 18, 0, 30)),
        (" 2026-03-27T09:05 ", datetime(2026, 3, 27, 9, 5)),
    ],
)
def test_parse_local(value, expected):
    parsed = parse_local(value)
    assert parsed == expected
    assert parsed.tzinfo is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-27T18:00+03:00",
        "2026-03-27T18:00Z",
        "2026-02-30T18:00",
        "2026-03-27",
        "27/03/2026 18:00",
        "2026-03-27T25:00",
        "",
    ],
)
def test_parse_local_refuses_anything_else(value):
    with pytest.raises(InvalidInput) as caught:
        parse_local(value, field="ends_at")
    assert set(caught.value.fields) == {"ends_at"}


def test_filters_in_pages_and_emails(tmp_path):
    settings = make_settings("sqlite://:memory:", tmp_path / "var")
    source = "{{ at | local_datetime(tz) }} / {{ at | local_time(tz) }}"
    at = datetime(2026, 3, 29, 15, 0, tzinfo=UTC)
    expected = "Sunday 29 March 2026, 18:00 Riga time (UTC+3) / 18:00 Riga time (UTC+3)"
    for env in (make_templates(settings).env, Renderer(settings).env):
        assert env.from_string(source).render(at=at, tz=RIGA) == expected
