"""A streamed request body read in pieces (portal.streaming.body_pieces): the buffers the ASGI
server received go on as they are, not copied (a join and a read copied every byte of an upload
twice), after what a first read left in the reader's buffer; a client gone mid-way is a cut-off
body as for read()."""

import asyncio
import io

import pytest
from django.http import UnreadablePostError

from portal.streaming import BodyChannel, StreamedBody, StreamedReader, body_pieces


class Request:
    """What the view hands on: Django's request reads its _stream."""

    def __init__(self, stream):
        self._stream = stream


def run_view(messages, view):
    """Feed ``messages`` as the client's; return what ``view(body)`` returns in a thread."""

    async def scenario():
        pending = iter(messages)

        async def receive():
            for message in pending:
                return message
            await asyncio.Event().wait()  # the client sends nothing more

        loop = asyncio.get_running_loop()
        channel = BodyChannel(receive, loop)
        channel.pump = loop.create_task(channel.run())
        try:
            return await asyncio.to_thread(view, StreamedReader(StreamedBody(channel)))
        finally:
            channel.pump.cancel()

    return asyncio.run(asyncio.wait_for(scenario(), 10))


def test_the_pieces_are_the_received_buffers_themselves_after_a_first_read():
    sent = [bytes([n]) * (100_000 + n) for n in range(4)]
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in sent]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    def view(body):
        first = body.read(1000)
        return first, list(body_pieces(Request(body), 1 << 20))

    first, pieces = run_view(messages, view)
    assert first + b"".join(pieces) == b"".join(sent)
    assert all(any(piece is chunk for piece in pieces) for chunk in sent[1:])  # handed on, not copied


def test_a_client_gone_mid_way_ends_the_pieces_as_a_cut_off_body():
    messages = [{"type": "http.request", "body": b"x" * 5000, "more_body": True}, {"type": "http.disconnect"}]

    def view(body):
        return list(body_pieces(Request(body), 1 << 20))

    with pytest.raises(UnreadablePostError):
        run_view(messages, view)


def test_a_plain_file_is_read_in_pieces_of_the_size_asked():
    assert list(body_pieces(io.BytesIO(b"a" * 10), 4)) == [b"aaaa", b"aaaa", b"aa"]
