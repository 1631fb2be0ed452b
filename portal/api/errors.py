"""JSON errors with field messages for every failure, including the services' own."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from portal.errors import ActionError
from portal.operations import TargetBusy
from portal.quotas import QuotaExceeded
from portal.teardown import ProjectNotEmpty


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
    return drf_handler(exc, context)
