import time

import pytest

from emulator.scheduled import ScheduledController


def test_attributes_and_aliases():
    c = ScheduledController("*/5 * * * *", 1_700_000_000_000)
    assert c.cron == "*/5 * * * *"
    assert c.scheduledTime == c.scheduled_time == 1_700_000_000_000
    assert c.type == "scheduled"
    assert c.retry
    c.noRetry()
    assert not c.retry


def test_default_time_is_now_in_milliseconds():
    before = time.time() * 1000
    c = ScheduledController("0 * * * *")
    assert before <= c.scheduled_time <= time.time() * 1000


def test_cron_must_be_a_string():
    with pytest.raises(TypeError):
        ScheduledController(5)
