"""The client's address: REMOTE_ADDR, or X-Forwarded-For only when the peer is a proxy listed
in NUBES_TRUSTED_PROXIES (none by default). Otherwise anyone could pick an address per request
(fresh login budgets, a way past /metrics' address check). uvicorn's own proxy handling is
configured from the same setting (runportal; --forwarded-allow-ips in the README)."""

import ipaddress

from django.conf import settings


def _address(text):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def trusted_networks():
    return [ipaddress.ip_network(net, strict=False) for net in settings.NUBES_TRUSTED_PROXIES]


def _trusted(address, networks):
    return address is not None and any(address in net for net in networks)


def client_address(request):
    """The client's address as text (None without a request)."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR")
    networks = trusted_networks()
    if not networks or not _trusted(_address(remote), networks):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    # From the nearest hop back: the first address no trusted proxy added is the client's.
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # a forged or garbled chain: fall back to the proxy itself
        if not _trusted(address, networks):
            return str(address)
    return remote
