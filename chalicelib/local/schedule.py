"""When an EventBridge schedule expression (`rate(...)` / `cron(...)`) fires: moto stores schedules but never
fires them, so the local runner ticks them itself, minute by minute, like EventBridge."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_DOW = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MON = {m: i for i, m in enumerate(_MONTHS, 1)}


def rate_seconds(expression: str) -> int | None:
    m = _RATE.match(expression)
    return int(m.group(1)) * _UNIT[m.group(2).rstrip("s")] if m else None


def _field_matches(spec: str, value: int, names: dict[str, int] | None = None) -> bool:
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", "?"):
            lo, hi = 0, 10**6
        elif "-" in part:
            a, b = part.split("-")
            lo, hi = _num(a, names), _num(b, names)
        else:
            lo = _num(part, names)
            hi = lo if step == 1 else 10**6
        if lo <= value <= hi and (value - lo) % step == 0:
            return True
    return False


def _num(text: str, names: dict[str, int] | None) -> int:
    return names[text.upper()] if names and text.upper() in names else int(text)


def cron_matches(expression: str, at: datetime) -> bool:
    """AWS cron: minutes hours day-of-month month day-of-week(1=SUN) year, in UTC."""
    m = _CRON.match(expression)
    if not m:
        return False
    minutes, hours, dom, month, dow, year = m.group(1).split()
    aws_dow = (at.isoweekday() % 7) + 1
    return (
        _field_matches(minutes, at.minute)
        and _field_matches(hours, at.hour)
        and _field_matches(dom, at.day)
        and _field_matches(month, at.month, _MON)
        and _field_matches(dow, aws_dow, _DOW)
        and _field_matches(year, at.year)
    )


def due(expression: str, last_fired: datetime | None, now: datetime) -> bool:
    seconds = rate_seconds(expression)
    if seconds is not None:
        return last_fired is None or now - last_fired >= timedelta(seconds=seconds)
    minute = now.replace(second=0, microsecond=0)
    return (last_fired is None or last_fired < minute) and cron_matches(expression, minute)
