"""Websocket origins: a socket opens only from the site's own origins, compared on scheme,
host and port: those in CSRF_TRUSTED_ORIGINS, or the origin of the request itself (its
scheme and Host header, the Host being one of ALLOWED_HOSTS). A page on another port or
scheme of the same host is another origin (http://127.0.0.1:9999, https://127.0.0.1)."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def origin_of(url):
    """(scheme, host, port) of an origin URL, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def own_origin(scope):
    """The origin the socket was opened on, when its Host is one this site serves."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return origin_of(f"{HTTP_SCHEME.get(scope.get('scheme', 'ws'), 'http')}://{host}")


def allowed(scope):
    origin = _header(scope, b"origin")
    wanted = origin_of(origin) if origin else None
    if wanted is None:
        return False
    trusted = {origin_of(url) for url in settings.CSRF_TRUSTED_ORIGINS}
    return wanted in trusted or wanted == own_origin(scope)


class SiteOriginValidator:
    """ASGI middleware: websockets from other origins are refused at the handshake (403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
