"""JSON errors with field messages for every failure, including the services' own, and JSON
answers for the errors Django itself answers under /api/ (400, 403, 404, 413, 500); 503 anywhere
while the database cannot be reached."""

import sys

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from portal.api.parsers import body_limit, too_large_message
from portal.errors import ActionError
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded
from portal.teardown import ProjectNotEmpty

DATABASE_DOWN = (OperationalError, InterfaceError)
DATABASE_DOWN_MESSAGE = "The database is unavailable for a moment; try again shortly."
DATABASE_RETRY_AFTER_S = 5


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        body = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, QuotaExceeded):
        return Response({"detail": str(exc), "quota": exc.resource}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, TargetBusy):
        return Response({"detail": str(exc), "operation": exc.running.pk}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ProjectNotEmpty):
        return Response({"detail": str(exc), "owned": exc.owned}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ActionError):
        body = {exc.field: [str(exc)]} if exc.field else {"detail": str(exc)}
        return Response(body, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response({"body": [too_large_message(body_limit())]}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        return Response({"body": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": "Bad request."}, status=status.HTTP_400_BAD_REQUEST)
    return drf_handler(exc, context)


def is_api(request):
    return request.path.startswith("/api/")


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.bad_request(request, exception, template_name)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"body": [too_large_message(body_limit())]}, status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.permission_denied(request, exception, template_name)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if not is_api(request):
        return defaults.page_not_found(request, exception, template_name)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return database_unavailable(request)
    if not is_api(request):
        return defaults.server_error(request, template_name)
    return JsonResponse({"detail": "Internal error; it has been logged."}, status=500)


def database_unavailable(request):
    """503 with Retry-After while the database cannot be reached (a restart, a failover): a
    passing outage, which clients and proxies may retry, not an internal error."""
    if is_api(request):
        response = JsonResponse({"detail": DATABASE_DOWN_MESSAGE}, status=503)
    else:
        response = HttpResponse(DATABASE_DOWN_MESSAGE, content_type="text/plain; charset=utf-8", status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response
