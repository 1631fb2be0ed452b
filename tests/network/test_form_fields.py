"""The one-item-per-line fields read text into what the service verbs take, show it back the
same way, and name the line they cannot read."""

import pytest
from django.core.exceptions import ValidationError

from network.form_fields import HostRoutesField, MembersField, PoolsField


def test_pools_are_start_end_pairs_and_blank_lines_are_skipped():
    assert PoolsField().clean("10.0.0.10-10.0.0.20\n\n 10.0.0.50 - 10.0.0.60 \n") == [
        ["10.0.0.10", "10.0.0.20"],
        ["10.0.0.50", "10.0.0.60"],
    ]
    assert PoolsField().clean("fd00::10-fd00::ff") == [["fd00::10", "fd00::ff"]]
    assert PoolsField().clean("") == []


def test_host_routes_are_destination_nexthop_dicts():
    assert HostRoutesField().clean("192.168.0.0/24,10.0.0.254") == [
        {"destination": "192.168.0.0/24", "nexthop": "10.0.0.254"}
    ]


def test_members_take_ipv6_in_brackets():
    assert MembersField().clean("10.0.0.5:80\n[fd00::5]:8080") == [
        {"address": "10.0.0.5", "port": 80},
        {"address": "fd00::5", "port": 8080},
    ]


@pytest.mark.parametrize(
    "field, text, bad",
    [
        (PoolsField(), "10.0.0.10-10.0.0.20\n10.0.0.30", "Line 2: '10.0.0.30'"),
        (PoolsField(), "10.0.0.10-10.0.0.999", "Line 1: '10.0.0.10-10.0.0.999'"),
        (HostRoutesField(), "192.168.0.0/24 10.0.0.254", "Line 1: '192.168.0.0/24 10.0.0.254'"),
        (HostRoutesField(), "\n192.168.0.1/24,10.0.0.254", "Line 2: '192.168.0.1/24,10.0.0.254'"),
        (MembersField(), "10.0.0.5:80\n10.0.0.6", "Line 2: '10.0.0.6'"),
        (MembersField(), "fd00::5:80", "Line 1: 'fd00::5:80'"),
        (MembersField(), "web:80", "Line 1: 'web:80'"),
    ],
)
def test_a_line_it_cannot_read_is_an_error_naming_the_line(field, text, bad):
    with pytest.raises(ValidationError) as caught:
        field.clean(text)
    assert caught.value.messages[0].startswith(bad)


def test_what_it_reads_it_shows_back_the_same_way():
    for field, text in (
        (PoolsField(), "10.0.0.10-10.0.0.20\n10.0.0.50-10.0.0.60"),
        (HostRoutesField(), "192.168.0.0/24,10.0.0.254"),
        (MembersField(), "10.0.0.5:80\n[fd00::5]:8080"),
    ):
        assert field.prepare_value(field.clean(text)) == text
