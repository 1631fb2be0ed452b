"""Text areas holding one item per line (allocation pools, host routes, static routes, load
balancer members): read into exactly what the service verbs take, and shown back the same way.
A line that cannot be read is an error naming it; the models and services check the rest."""

import ipaddress

from django import forms
from django.core.exceptions import ValidationError


class LinesField(forms.CharField):
    shape = ""  # what one line looks like, for the help text and errors
    note = ""  # what empty means, if it means more than none

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)  # line numbers count from the first line as typed
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        kwargs.setdefault("help_text", f"one per line: {self.shape}{self.note}")
        super().__init__(**kwargs)

    def parse(self, line):
        raise NotImplementedError

    def show(self, item):
        raise NotImplementedError

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(self.show(item) for item in value)
        return value

    def to_python(self, value):
        items = []
        for number, line in enumerate(super().to_python(value).splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            try:
                items.append(self.parse(line))
            except ValueError:
                raise ValidationError(f"Line {number}: {line!r} is not {self.shape}.") from None
        return items


def _split(line, separator):
    left, found, right = line.partition(separator)
    if not found:
        raise ValueError(line)
    return left.strip(), right.strip()


def parse_route(line, separator):
    """{destination, nexthop} from 'destination<separator>nexthop' (ValueError if unreadable)."""
    destination, nexthop = _split(line, separator)
    return {"destination": str(ipaddress.ip_network(destination)), "nexthop": str(ipaddress.ip_address(nexthop))}


class PoolsField(LinesField):
    """[[start, end], ...], as Subnet.allocation_pools holds them."""

    shape = "start-end, e.g. 10.0.0.10-10.0.0.99"
    note = "; empty: the whole subnet but the gateway"

    def parse(self, line):
        return [str(ipaddress.ip_address(address)) for address in _split(line, "-")]

    def show(self, pool):
        return f"{pool[0]}-{pool[1]}"


class HostRoutesField(LinesField):
    """[{destination, nexthop}, ...], handed to the subnet's hosts by DHCP."""

    shape = "destination,nexthop, e.g. 192.168.0.0/24,10.0.0.254"

    def parse(self, line):
        return parse_route(line, ",")

    def show(self, route):
        return f"{route['destination']},{route['nexthop']}"


ROUTE_SEPARATOR = " via "
ROUTE_SHAPE = "destination via nexthop, e.g. 192.168.5.0/24 via 10.0.0.254"


def show_route(route):
    return f"{route['destination']}{ROUTE_SEPARATOR}{route['nexthop']}"


class MembersField(LinesField):
    """[{address, port}, ...]; an IPv6 address in brackets, as in [fd00::5]:80."""

    shape = "address:port, e.g. 10.0.0.5:8080 or [fd00::5]:8080"

    def parse(self, line):
        address, found, port = line.rpartition(":")
        address, port = address.strip(), port.strip()
        if not found or not port.isdigit() or (":" in address and not address.startswith("[")):
            raise ValueError(line)  # an IPv6 address without brackets would be ambiguous
        return {"address": str(ipaddress.ip_address(address.strip("[]"))), "port": int(port)}

    def show(self, member):
        address = member["address"]
        return f"[{address}]:{member['port']}" if ":" in address else f"{address}:{member['port']}"
