"""Raw uploads reach the view while the client is still sending them.

Django's ASGI handler reads a request's whole body before the view runs, spooling anything over
FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file on the web node: a 10 GiB image upload would land
on the web node's disk first, and its checks (quota, format, size) would answer only after the
last byte. For a PUT of application/octet-stream or of no declared type (the native API's volume
and image uploads, the Glance-compatible image data) this handler gives the view a file whose reads pull the body from
the ASGI server as they happen: nothing is kept on the web node, a bad upload is refused after
its first chunk, and the server stops reading the socket while the view is busy (backpressure).
The same for a multipart POST to a view that reads its form as it arrives (the browser's upload
forms, portal.form_uploads.streamed_form_upload), and for a raw or multipart POST to an API action
marked with portal.form_uploads.streamed_upload_action (the native API's image upload).
Everything else takes Django's path, its response ended once the client is gone (ClientWatch).

Downloads the other way (``response_chunks``): Django serves a streaming response's sync
iterator under ASGI by reading it whole into a list first, so a volume download would sit in the
web process's memory, reach the client only once read to the end, and succeed though its client
left. Under ASGI the view gets an async iterator pulling one chunk at a time instead.
"""

import asyncio
import collections
import io
import threading

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import UnreadablePostError

from portal.form_uploads import declared_type, streams_form

# Chunks the ASGI server may hold ahead of the view; it stops reading the socket beyond this.
QUEUE_DEPTH = 16
# The view's thread takes every chunk waiting, up to this, in one hand-over from the event loop
# (one per 64 KiB chunk cost a thread round trip each: 16,000 for 1 GiB).
GATHER_BYTES = 4 * 1024 * 1024
STREAMED_TYPES = ("application/octet-stream",)


def streams(scope):
    """True for a raw upload: a PUT of application/octet-stream, or of no declared type (what
    `curl -T` and python-requests with a file send), which Django parses into nothing; and for a
    POST to a view that reads its body as it arrives (portal.form_uploads: a multipart form, or
    for the API's image upload also a raw body)."""
    if scope.get("type") != "http":
        return False
    if scope.get("method") == "POST":
        return streams_form(scope, STREAMED_TYPES)
    if scope.get("method") != "PUT":
        return False
    return declared_type(scope) in (*STREAMED_TYPES, None)


class BodyChannel:
    """Owns the connection's receive(): one pump puts body chunks in a small queue for the view's
    thread and notes the client's disconnect for Django's disconnect listener."""

    def __init__(self, receive, loop):
        self._receive = receive
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._chunks = asyncio.Queue(QUEUE_DEPTH)
        self.disconnected = asyncio.Event()
        self.pump = None
        self._held = False  # an end marker (b"" or None) taken while gathering, given next time

    async def run(self):
        more = True
        while more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                await self._chunks.put(None)
                return
            more = message.get("more_body", False)
            await self._chunks.put(message.get("body", b""))
        await self._chunks.put(b"")  # end of body
        message = await self._receive()  # returns once the response is sent or the client goes
        if message["type"] == "http.disconnect":
            self.disconnected.set()

    async def _gathered(self):
        """Every chunk waiting (at least one), as a list (not joined: a copy of every byte); an
        end marker alone."""
        if self._held is not False:
            held, self._held = self._held, False
            return held
        first = await self._next()
        if not first:
            return first
        parts, size = [first], len(first)
        while size < GATHER_BYTES and not self._chunks.empty():
            chunk = self._chunks.get_nowait()
            if not chunk:
                self._held = chunk
                break
            parts.append(chunk)
            size += len(chunk)
        return parts

    async def _next(self):
        if not self._chunks.empty() or self.pump is None:
            return await self._chunks.get()
        get = asyncio.ensure_future(self._chunks.get())
        await asyncio.wait((get, self.pump), return_when=asyncio.FIRST_COMPLETED)
        if get.done():
            return get.result()
        # The pump ended without a chunk for us: cancelled once Django's handler gave up on the
        # request (the client's disconnect can win that race while the queue is full).
        get.cancel()
        return self._chunks.get_nowait() if not self._chunks.empty() else None

    def next_chunks(self):
        """The chunks waiting, at least one (b"" at the end; None if the client went away), from
        the view's thread."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("a streamed request body is read from a view's thread, not the event loop")
        return asyncio.run_coroutine_threadsafe(self._gathered(), self._loop).result()


class StreamedBody(io.RawIOBase):
    """The request body as a file whose reads wait for the client's next chunk."""

    def __init__(self, channel):
        self._channel = channel
        self._pending = collections.deque()  # chunks handed over, not yet read
        self._buffer = memoryview(b"")
        self._offset = 0  # into _buffer: slicing a view copies nothing
        self._ended = False
        self._aborted = False
        self.received = 0

    def readable(self):
        return True

    def abort(self):
        """The request is over (the client went away): reads from now on end as a cut-off body."""
        self._aborted = True

    def _fill(self):
        """Make the current chunk one with bytes left, unless the body ended (False then)."""
        if self._aborted:
            self._ended = True
            raise UnreadablePostError(f"the client went away after {self.received} bytes")
        while self._offset == len(self._buffer) and not self._ended:
            if not self._pending:
                chunks = self._channel.next_chunks()
                if chunks is None:
                    self._ended = True
                    raise UnreadablePostError(f"the client went away after {self.received} bytes")
                if chunks == b"":
                    self._ended = True
                    break
                self._pending.extend(chunks)
            self._buffer, self._offset = memoryview(self._pending.popleft()), 0
        return self._offset < len(self._buffer)

    def readinto(self, target):
        if not self._fill():
            return 0
        count = min(len(target), len(self._buffer) - self._offset)
        target[:count] = self._buffer[self._offset : self._offset + count]
        self._offset += count
        self.received += count
        return count

    def piece(self):
        """The rest of the current chunk, or the next one (b"" at the end): the client's bytes
        as they came, copied only when a read took part of that chunk."""
        if not self._fill():
            return b""
        rest = self._buffer.obj if self._offset == 0 else self._buffer[self._offset :].tobytes()
        self.received += len(rest)
        self._buffer, self._offset = memoryview(b""), 0
        return rest


class ClientWatch:
    """One request's receive() and send(): a response body sent once the client is gone ends the
    response as Django ends one whose client left (CancelledError: its process_request takes it
    for a disconnect and closes the response). uvicorn drops sends to a gone client silently, so a
    streaming response (a download) would otherwise run to its end and succeed, unless Django's
    disconnect listener happened to cancel it first."""

    def __init__(self, receive, send):
        self._receive, self._send, self.gone = receive, send, False

    async def receive(self):
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.gone = True
        return message

    async def send(self, message):
        if self.gone and message["type"] == "http.response.body":
            raise asyncio.CancelledError("the client went away")
        await self._send(message)


class StreamedReader(io.BufferedReader):
    """A buffered streamed body whose close never waits. Django closes the request body from the
    event loop once the client has gone, while the view's thread may be inside read(), holding
    the buffer's lock and waiting for that same loop to hand it the next chunk: BufferedReader's
    own close() takes that lock, so the loop stopped for good (the whole web process: seen as an
    upload whose client left and that never failed). Here close takes no lock and does not mark
    the file closed either: a read after it would raise ValueError, which an upload does not take
    for a cut-off body (its Operation stayed running until the lease reaper, about 1 run in 4 on
    PostgreSQL); the view's next read ends as a cut-off body (UnreadablePostError, an OSError)."""

    def close(self):
        self.raw.abort()

    def pieces(self):
        """The rest of the body as it arrives (bytes, b"" never), uncopied (StreamedBody.piece)."""
        head = self.read1(io.DEFAULT_BUFFER_SIZE)  # what the buffer held; after it, nothing is buffered
        if head:
            yield head
        while piece := self.raw.piece():
            yield piece


def body_pieces(body, most):
    """A request body's bytes in pieces (of at most ``most`` bytes read from a plain file; as
    they arrived from a streamed one, uncopied). ``body`` is a file, or Django's or DRF's
    request (whose stream reads the request's ``_stream``)."""
    stream = getattr(body, "_stream", None)
    if isinstance(stream, StreamedReader):
        yield from stream.pieces()
        return
    while chunk := body.read(most):
        yield chunk


class StreamingASGIHandler(ASGIHandler):
    """Django's ASGI handler, streaming raw uploads into the view (see the module's docstring)."""

    async def handle(self, scope, receive, send):
        if not streams(scope):
            watch = ClientWatch(receive, send)
            return await super().handle(scope, watch.receive, watch.send)
        channel = BodyChannel(receive, asyncio.get_running_loop())
        channel.pump = asyncio.create_task(channel.run())
        try:
            return await super().handle(scope, channel, send)
        finally:
            channel.pump.cancel()

    async def read_body(self, receive):
        if isinstance(receive, BodyChannel):
            return StreamedReader(StreamedBody(receive))
        return await super().read_body(receive)

    async def listen_for_disconnect(self, receive):
        if isinstance(receive, BodyChannel):
            await receive.disconnected.wait()
            raise RequestAborted()
        return await super().listen_for_disconnect(receive)


def response_chunks(request, chunks):
    """What a StreamingHttpResponse should stream of ``chunks`` (a sync iterator with close()):
    under ASGI an async iterator taking one chunk at a time from the view's thread, which the
    response closes (closing ``chunks``) when it ends or its client goes away; under WSGI
    ``chunks`` itself."""
    if not isinstance(getattr(request, "_request", request), ASGIRequest):  # DRF's Request wraps Django's
        return chunks
    return OneAtATime(chunks)


class OneAtATime:
    def __init__(self, chunks):
        self.chunks = chunks
        self._take = sync_to_async(next, thread_sensitive=True)

    def __aiter__(self):
        return self

    async def __anext__(self):
        chunk = await self._take(self.chunks, None)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def close(self):
        self.chunks.close()
