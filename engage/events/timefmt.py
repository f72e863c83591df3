"""Event times: entered as local wall time in the embassy's zone, stored in UTC, shown
in the zone with its name and offset, right across daylight-saving changes::

    starts_at = to_utc(parse_local("2026-03-29T18:00"), "Europe/Riga")   # 15:00 UTC
    format_local_time(starts_at, "Europe/Riga")       # "18:00 Riga time (UTC+3)"
    format_local_datetime(starts_at, "Europe/Riga")
    # "Sunday 29 March 2026, 18:00 Riga time (UTC+3)"

A wall time that does not exist (the hour skipped when clocks go forward) is refused;
one that happens twice (clocks go back) means its first occurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date

from engage import i18n
from engage.errors import InvalidInput
from engage.i18n import _

_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "Etc/Zulu", "UCT", "Zulu", "GMT", "Etc/GMT"}


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            _("Unknown time zone: %(zone)s.", zone=tz),
            fields={"timezone": _("Unknown time zone.")},
        ) from None


def _aware(instant: datetime) -> datetime:
    # A naive instant is UTC (how the database and the clock hand them over).
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def to_utc(local: datetime, tz: str, *, field: str | None = None) -> datetime:
    """The UTC instant of the naive wall time ``local`` in ``tz``.

    Raises InvalidInput (on ``field`` when given) if the time falls in the hour
    skipped when the clocks go forward; a time that happens twice when they go back
    takes its first occurrence. An aware ``local`` is simply converted.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    zone = _zone(tz)
    first = local.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        message = _(
            "%(time)s on %(date)s does not exist in %(zone)s: clocks go forward.",
            time=local.strftime("%H:%M"),
            date=_date(local),
            zone=zone_label(tz),
        )
        raise InvalidInput(message, fields={field: message} if field else None)
    return instant


def to_local(instant: datetime, tz: str) -> datetime:
    """``instant`` as an aware datetime in ``tz``."""
    return _aware(instant).astimezone(_zone(tz))


def zone_label(tz: str) -> str:
    """ "Europe/Riga" -> "Riga time", "America/Argentina/Buenos_Aires" -> "Buenos Aires
    time", "UTC" -> "UTC"."""
    if tz in _UTC_NAMES:
        return "UTC"
    city = tz.rsplit("/", 1)[-1].replace("_", " ")
    return _("%(city)s time", city=city)


def utc_offset_label(instant: datetime, tz: str) -> str:
    """The zone's offset at ``instant``: "UTC+3", "UTC+5:30", "UTC-3:30", "UTC"."""
    offset = to_local(instant, tz).utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}:{rest:02d}" if rest else f"UTC{sign}{hours}"


def format_local_time(instant: datetime, tz: str) -> str:
    """ "18:00 Riga time (UTC+3)" ("18:00 UTC" in UTC)."""
    local = to_local(instant, tz)
    label = zone_label(tz)
    if label == "UTC":
        return f"{local:%H:%M} UTC"
    return f"{local:%H:%M} {label} ({utc_offset_label(instant, tz)})"


def format_local_datetime(instant: datetime, tz: str) -> str:
    """ "Friday 27 March 2026, 18:00 Riga time (UTC+3)", in the current language."""
    return f"{_date(to_local(instant, tz))}, {format_local_time(instant, tz)}"


def parse_local(value: str, *, field: str | None = None) -> datetime:
    """ "2026-03-27T18:00" (or with seconds, as ``<input type="datetime-local">``
    sends it) -> a naive datetime. Anything else, an offset included, is InvalidInput."""
    text = (value or "").strip()
    if _LOCAL.match(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    message = _("Give a date and time like 2026-03-27T18:00 (local time, no offset).")
    raise InvalidInput(message, fields={field: message} if field else None)


def _date(local: datetime) -> str:
    return format_date(local.date(), "EEEE d MMMM y", locale=i18n.current_language.get())
