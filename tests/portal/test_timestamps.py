"""{{ value|timestamp }} prints what value|date:"Y-m-d H:i:s" prints, in the current time zone."""

import datetime as dt

import pytest
from django.template import Context, Template
from django.utils import timezone

SAME = Template('{% load timestamps %}{{ value|timestamp }}|{{ value|date:"Y-m-d H:i:s" }}')
VALUES = [
    dt.datetime(2026, 3, 9, 7, 5, 3, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # another day in Paris
    dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 9, 7, 5, 3),  # naive: as it is
    None,
    "",
    "not a date",
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
@pytest.mark.parametrize("value", VALUES)
def test_timestamp_is_the_date_filter_with_seconds(value, zone):
    with timezone.override(zone):
        ours, django = SAME.render(Context({"value": value})).split("|")
    assert ours == django
