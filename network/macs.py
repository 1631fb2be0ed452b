"""The MAC addresses a port may have: six hex octets, unicast (the group bit of the first octet
clear, so no multicast and no broadcast) and not all zero. OVN realised whatever it was given."""

import re

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def mac_refusal(mac):
    """Why `mac` cannot be a port's address, or None when it can."""
    text = (mac or "").lower()
    if not MAC.match(text):
        return f"{mac!r} is not a MAC address (six hex octets separated by colons, e.g. fa:16:3e:00:00:01)."
    if int(text[:2], 16) & 1:
        return f"{mac} is a multicast or broadcast address; a port needs a unicast one."
    if text == "00:00:00:00:00:00":
        return "The all-zero MAC address is not a port's address."
    return None
