"""Schedule settings: a 5-field cron expression, ``every N s|min|h`` or ``off``, and the fire time
every process computes alike. Read by the settings (to refuse a bad value at start-up) and by the
scheduler (:mod:`api.scheduler`)."""

from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

#: Anchor of ``every N`` schedules: fire times are multiples of N after it, the same in every process.
INTERVAL_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|secs|seconds?|min|mins|minutes?|h|hours?)$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def parse_schedule(text: str, timezone: str) -> BaseTrigger | None:
    """The trigger of a schedule setting: a 5-field cron expression, ``every N s|min|h`` or ``off`` (None).

    Raises ValueError naming the problem.
    """
    value = text.strip()
    if value.lower() == "off":
        return None
    match = _EVERY.match(value)
    if match:
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)[0].lower()]
        if seconds < 1:
            raise ValueError(f"schedule {text!r}: the interval must be at least 1 s")
        return IntervalTrigger(seconds=seconds, start_date=INTERVAL_EPOCH, timezone=timezone)
    try:
        return CronTrigger.from_crontab(value, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"schedule {text!r} is not a 5-field cron expression (minute hour day month weekday), "
                         f"'every N s|min|h' or 'off': {exc}") from None


def due_fire_time(trigger: BaseTrigger, now: dt.datetime, *, lookback_s: float) -> dt.datetime | None:
    """The latest fire time of ``trigger`` at or before ``now`` and at most ``lookback_s`` earlier.

    This is the fire time APScheduler runs a coalesced job for; every process computes the same one,
    so it keys the once-only claim.
    """
    fire = trigger.get_next_fire_time(None, now - dt.timedelta(seconds=lookback_s))
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))
    return last
