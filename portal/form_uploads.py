"""Multipart form uploads read as they arrive: the browser's upload form streams into its view.

Django parses a multipart body whole before a view sees any of it (CsrfViewMiddleware reads
request.POST for the form's token), writing the file to a temporary file on the web node past
FILE_UPLOAD_MAX_MEMORY_SIZE. A view decorated with ``streamed_form_upload`` instead gets its
form's fields before the file (the CSRF token first: checked here, with Django's own middleware,
before a byte of the file is used) and the file itself as an UploadedFile whose reads pull the
body on as the view consumes it: under ASGI portal.streaming hands such a request's body over
as it arrives, so the view's Operation starts while the browser is still sending and nothing is
written on the web node. The parts are split by Django's multipart Parser, read lazily.

The file must be the form's last field (as a browser sends a form whose file input comes last):
its size is what the Content-Length leaves after its part's headers and the closing boundary
line, and a part that ends sooner or later than that fails the read before the view's last
byte is taken (an UnreadablePostError, an OSError as a broken connection is). After the view
the rest of the body is read and dropped, so the browser gets its answer."""

import functools

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponseBadRequest, QueryDict, UnreadablePostError
from django.http.multipartparser import (
    FIELD,
    FILE,
    ChunkIter,
    LazyStream,
    MultiPartParser,
    MultiPartParserError,
    Parser,
    exhaust,
)
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters
from django.views.decorators.csrf import csrf_exempt

READ_BYTES = 64 * 1024
MULTIPART = "multipart/form-data"


def declared_type(scope):
    """The request's content type, lower case without parameters; None when it declares none."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";")[0].strip().decode("latin-1").lower()
    return None


def _streamed_post(func):
    """'form' for a view decorated with streamed_form_upload, 'body' for an API action marked
    with streamed_upload_action (a raw body or a form), None for any other view."""
    if getattr(func, "streams_form", False):
        return "form"
    action = getattr(func, "actions", None) or {}
    method = getattr(getattr(func, "cls", None), action.get("post", ""), None)
    return "body" if getattr(method, "streams_body", False) else None


def streams_form(scope, raw_types=("application/octet-stream",)):
    """True for a multipart POST to a view decorated with streamed_form_upload or to an API
    action marked with streamed_upload_action, and for a raw POST (one of ``raw_types`` or no
    declared type) to such an action (an ASGI scope)."""
    if scope.get("method") != "POST":
        return False
    content_type = declared_type(scope)
    if content_type != MULTIPART and content_type is not None and content_type not in raw_types:
        return False
    path = scope.get("path", "").removeprefix(scope.get("root_path", "")) or "/"
    try:
        kind = _streamed_post(resolve(path).func)
    except Resolver404:
        return False
    return kind == "body" or (kind == "form" and content_type == MULTIPART)


def streamed_upload_action(method):
    """Mark a viewset's POST action whose body (raw, or a form with its file last) portal.streaming
    hands over as it arrives; it parses a form with portal.api.parsers.StreamedMultiPartParser."""
    method.streams_body = True
    return method


class FilePart:
    """The file part's bytes, ``size`` of them, read from the multipart stream on demand."""

    def __init__(self, part, size):
        self._part, self.size, self.delivered = part, size, 0

    def read(self, size=-1):
        left = self.size - self.delivered
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            return b""
        data = self._part.read(want)
        if not data:
            raise UnreadablePostError(
                f"the form's file ended after {self.delivered} of {self.size} bytes: "
                "the file must be the form's last field"
            )
        self.delivered += len(data)
        if self.delivered == self.size and self._part.read(1):
            raise UnreadablePostError("the form's file is longer than its Content-Length leaves for it")
        return data


def _boundary(request):
    _, options = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    boundary = options.get("boundary", "")
    if not MultiPartParser.boundary_re.fullmatch(boundary):
        raise MultiPartParserError(f"Invalid boundary in multipart: {boundary!r}")
    return boundary.encode("ascii")


def _disposition(meta):
    """The part's Content-Disposition parameters (name, filename), {} when it has none."""
    try:
        return meta["content-disposition"][1]
    except (KeyError, IndexError, TypeError):
        return {}


def _file_name(disposition):
    """The part's file name as Django's parser cleans it (no directories); None when empty."""
    return MultiPartParser.sanitize_file_name(None, _text(disposition.get("filename") or b""))


def _text(value):
    return force_str(value, settings.DEFAULT_CHARSET, errors="replace")


def read_form_head(request, body):
    """(fields, files) of the form up to and including its first file: the fields as a
    QueryDict (Django's limits on their number and size held), the file as an UploadedFile
    streamed from ``body`` (a LazyStream over the request), or no file when none was chosen."""
    boundary = _boundary(request)
    fields, files, used, count = QueryDict(mutable=True), MultiValueDict(), 0, 0
    limit, max_fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    trailer = len(b"\r\n--" + boundary + b"--\r\n")
    begins = 0  # where the part being read begins in the body: right after the boundary before it
    for kind, meta, part in Parser(body, boundary):
        disposition = _disposition(meta)
        name = _text(disposition.get("name", b"")).strip()
        if kind == FIELD and name:
            count += 1
            if max_fields is not None and count > max_fields:
                raise TooManyFieldsSent("The number of POST parameters exceeded DATA_UPLOAD_MAX_NUMBER_FIELDS.")
            data = part.read(None if limit is None else limit - used + 1)
            used += len(data) + len(name) + 2
            if limit is not None and used > limit:
                raise RequestDataTooBig("The form's fields exceeded DATA_UPLOAD_MAX_MEMORY_SIZE.")
            fields.appendlist(name, _text(data))
        elif kind == FILE and name and _file_name(disposition):
            # the file's first byte: the part's start plus its headers (what part.tell() counts so far)
            size = max(0, int(request.META.get("CONTENT_LENGTH") or 0) - begins - part.tell() - trailer)
            content_type, extra = meta.get("content-type", ("", {}))
            stream = FilePart(part, size)
            upload = UploadedFile(
                stream, _file_name(disposition), content_type.strip(), size, extra.get("charset"), extra
            )
            files.appendlist(name, upload)
            break
        else:
            exhaust(part)  # the preamble, a part without a name, or no file chosen (an empty filename)
        begins = body.tell()
    fields._mutable = False
    return fields, files


def _csrf_refusal(request):
    """None when the request passes Django's CSRF check (token from request.POST), else its 403."""

    def enforced(request):  # a view without csrf_exempt, for the middleware to judge
        return None

    return CsrfViewMiddleware(enforced).process_view(request, enforced, (), {})


def streamed_form_upload(view):
    """Give ``view`` a multipart POST's file as it arrives (see the module's docstring). The
    CSRF check is done here, on the fields before the file, instead of by the middleware."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "POST" or request.content_type != MULTIPART:
            return _csrf_refusal(request) or view(request, *args, **kwargs)
        body = LazyStream(ChunkIter(request, READ_BYTES))
        try:
            request._post, request._files = read_form_head(request, body)
        except MultiPartParserError as exc:
            return HttpResponseBadRequest(f"The form could not be read: {exc}")
        try:
            return _csrf_refusal(request) or view(request, *args, **kwargs)
        finally:
            try:
                exhaust(body)  # the rest, read and dropped: the browser then reads the answer
            except (OSError, MultiPartParserError):
                pass  # the client went away: nothing to answer

    wrapped.streams_form = True
    return wrapped
