"""What every OpenStack service here shares: Keystone token authentication, JSON in and out,
and each service's own error shape. Views raise OsError (or let a Nubes service raise its
ActionError, ValidationError, QuotaExceeded or TargetBusy) and the service's shape answers."""

import json

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import ProtectedError
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from network.backends.base import Unsupported
from openstack_api.models import KeystoneToken
from portal.choices import WRITE_ROLES
from portal.errors import ActionError
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded

NOVA_CODES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    501: "notImplemented",
}
NEUTRON_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    501: "NotImplemented",
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    501: "Not Implemented",
}


class OsError(Exception):
    def __init__(self, status, message, kind=None):
        self.status, self.message, self.kind = status, message, kind
        super().__init__(message)


def not_found(what, ident):
    return OsError(404, f"{what} {ident} could not be found.")


def nova_error(status, message, kind=None):
    """Nova's and Cinder's shape: {"itemNotFound": {"code": 404, "message": ...}}."""
    return {NOVA_CODES.get(status, "computeFault"): {"code": status, "message": message}}


def neutron_error(status, message, kind=None):
    return {
        "NeutronError": {"type": kind or NEUTRON_TYPES.get(status, "NeutronError"), "message": message, "detail": ""}
    }


def keystone_error(status, message, kind=None):
    """Keystone's (and here Glance's) shape: {"error": {"code", "title", "message"}}."""
    return {"error": {"code": status, "title": TITLES.get(status, "Error"), "message": message}}


class Service:
    def __init__(self, name, error_body, quota_status=403):
        self.name, self.error_body, self.quota_status = name, error_body, quota_status

    def error(self, status, message, kind=None):
        response = JsonResponse(self.error_body(status, message, kind), status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Keystone uri="/openstack/identity/v3"'
        return response

    def translate(self, exc):
        """The answer to an error a view or a Nubes service raised; None for a bug (a 500)."""
        if isinstance(exc, OsError):
            return self.error(exc.status, exc.message, exc.kind)
        if isinstance(exc, Unsupported):  # the configured network backend lacks the feature
            return self.error(501, str(exc), "NotImplemented")
        if isinstance(exc, QuotaExceeded):
            return self.error(self.quota_status, str(exc), "OverQuota")
        if isinstance(exc, TargetBusy):
            return self.error(409, str(exc))
        if isinstance(exc, ActionError):
            message = f"{exc.field}: {exc}" if exc.field else str(exc)
            return self.error(exc.status_code, message)
        if isinstance(exc, ValidationError):
            return self.error(400, validation_message(exc))
        if isinstance(exc, ProtectedError):
            return self.error(409, "The resource is still in use.")
        if isinstance(exc, (Http404, ObjectDoesNotExist)):
            return self.error(404, "The resource could not be found.")
        return None


NOVA = Service("compute", nova_error, quota_status=403)
CINDER = Service("volume", nova_error, quota_status=413)
NEUTRON = Service("network", neutron_error, quota_status=409)
GLANCE = Service("image", keystone_error)
KEYSTONE = Service("identity", keystone_error)


def validation_message(exc):
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def token_of(request):
    return KeystoneToken.lookup(request.headers.get("X-Auth-Token", ""))


def body_of(request, key=None):
    """The JSON body (or its `key` object); a 400 in the service's shape when it is not one."""
    if not request.body:
        data = {}
    else:
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OsError(400, f"Malformed request body: {exc}") from exc
    if not isinstance(data, dict):
        raise OsError(400, "The request body must be a JSON object.")
    if key is None:
        return data
    inner = data.get(key)
    if not isinstance(inner, dict):
        raise OsError(400, f"The request body needs a {key!r} object.")
    return inner


def require_write(request, what="resources"):
    """Readers read; members and admins change (the native API's matrix)."""
    if request.os_project.role_of(request.user) not in WRITE_ROLES:
        raise OsError(403, f"Readers cannot change {what}.", "PolicyNotAuthorized")


def endpoint(service, authenticated=True, **methods):
    """A view answering the given methods (GET=fn, ...), each fn(request, **kwargs)."""

    @csrf_exempt
    def view(request, **kwargs):
        handler = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        try:
            if authenticated:
                token = token_of(request)
                if token is None:
                    raise OsError(401, "The request you have made requires authentication.")
                request.os_token, request.user, request.os_project = token, token.user, token.project
            if handler is None:  # a verb OpenStack has here but Nubes does not implement
                raise OsError(
                    501, f"Nubes does not implement {request.method} {request.path} of the {service.name} API."
                )
            response = handler(request, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated, or raised again
            response = service.translate(exc)
            if response is None:
                raise
        return response

    view.os_methods = frozenset(methods) | ({"HEAD"} if "GET" in methods else set())
    return view


def not_implemented(service):
    """The catch-all of a service: a call Nubes does not implement is a 501 that says so."""

    @csrf_exempt
    def view(request, rest=""):
        return service.error(
            501, f"Nubes does not implement {request.method} {request.path} of the {service.name} API."
        )

    view.os_methods = frozenset()
    return view


def reply(data, status=200, headers=None):
    if data is None:
        response = HttpResponse(status=status)
    else:
        response = JsonResponse(data, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def iso_micro(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") if moment else None


def after_marker(items, request, key=lambda item: str(item.pk)):
    """The items after `marker` (the last id of the previous page) in an ordered list."""
    marker = request.GET.get("marker")
    if not marker:
        return items
    ids = [key(item) for item in items]
    if marker not in ids:
        raise OsError(400, f"marker [{marker}] not found")
    return items[ids.index(marker) + 1 :]


def limit_of(request, maximum=None):
    limit = request.GET.get("limit")
    if not limit:
        return maximum
    if not limit.isdigit():
        raise OsError(400, "limit must be a non-negative integer.")
    return min(int(limit), maximum) if maximum else int(limit)


def paginate(items, request, key=lambda item: str(item.pk)):
    """`limit` / `marker` over an ordered list."""
    items = after_marker(items, request, key)
    limit = limit_of(request)
    return items if limit is None else items[:limit]


def link(request, path):
    return request.build_absolute_uri(path)
