"""JSON bodies bounded before parsing: a size limit (413) and a nesting-depth limit (400), so
a hostile body can neither exhaust memory nor the parser's recursion (a RecursionError was a 500)."""

import io
import re

from django.conf import settings
from django.http.multipartparser import ChunkIter, LazyStream, MultiPartParserError, exhaust
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from portal.form_uploads import READ_BYTES, read_form_head

# Strings first (they may hold brackets), then every bracket outside them.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def body_limit():
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_message(limit):
    return f"The request body is larger than {limit} bytes."


def too_deep(raw, limit):
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not enough brackets to be too deep: no scan
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', raw)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit()
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge({"body": [too_large_message(limit)]})
        max_depth = settings.NUBES_API_MAX_JSON_DEPTH
        if too_deep(raw, max_depth):
            raise ParseError({"body": [f"JSON nested deeper than {max_depth} levels."]})
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class StreamedMultiPartParser(parsers.BaseParser):
    """A multipart form read as it arrives (portal.form_uploads.read_form_head): the fields, then
    the first file as an UploadedFile whose reads pull the body on; the file must come last.
    Under ASGI an action marked with streamed_upload_action gets its body this way from
    portal.streaming, so nothing is spooled on the web node. The view calls drain_form after
    its work, so the client, still sending, gets the answer."""

    media_type = "multipart/form-data"

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]._request
        body = request.streamed_form = LazyStream(ChunkIter(stream, READ_BYTES))
        try:
            fields, files = read_form_head(request, body)
        except MultiPartParserError as exc:
            raise ParseError({"body": [f"The form could not be read: {exc}"]}) from exc
        return parsers.DataAndFiles(fields, files)


def drain_form(request):
    """Read and drop what is left of a form StreamedMultiPartParser read (nothing otherwise)."""
    body = getattr(request._request, "streamed_form", None)
    if body is not None:
        try:
            exhaust(body)
        except (OSError, MultiPartParserError):
            pass  # the client went away: nothing to answer
