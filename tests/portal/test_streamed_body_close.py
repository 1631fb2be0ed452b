"""Closing a streamed request body from the event loop (what Django does once the client has
gone) while the view's thread is inside read(), waiting for that loop to hand it the next chunk,
returns at once; the read then ends as a cut-off body. With io.BufferedReader's own close the
loop waited for the reader's lock for ever (and with it the whole web process)."""

import asyncio
import threading

import pytest
from django.http import UnreadablePostError

from portal.streaming import BodyChannel, StreamedBody, StreamedReader


def test_closing_the_body_from_the_loop_while_the_view_reads_does_not_block_the_loop():
    async def scenario():
        client = asyncio.Queue()

        async def receive():
            return await client.get()

        channel = BodyChannel(receive, asyncio.get_running_loop())
        channel.pump = asyncio.ensure_future(channel.run())
        body = StreamedReader(StreamedBody(channel))
        outcome = {}

        def view():
            try:
                outcome["read"] = body.read(1 << 20)
            except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
                outcome["error"] = exc

        reader = threading.Thread(target=view, daemon=True)
        reader.start()
        await asyncio.sleep(0.3)  # the view's thread is now inside read(), waiting for a chunk
        assert reader.is_alive()
        await asyncio.wait_for(asyncio.to_thread(lambda: None), 1)  # the loop runs
        body.close()  # on the loop's thread, as Django does; must not wait for the reader
        await client.put({"type": "http.disconnect"})
        await asyncio.to_thread(reader.join, 5)
        channel.pump.cancel()
        return reader.is_alive(), outcome

    still_reading, outcome = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert not still_reading
    assert isinstance(outcome.get("error"), UnreadablePostError), outcome


def test_a_read_after_the_close_is_a_cut_off_body_not_a_closed_file():
    """ValueError ('read of closed file') is not what an upload takes for a cut-off body: its
    Operation stayed running until the lease reaper failed it."""
    body = StreamedReader(StreamedBody(None))
    body.close()
    with pytest.raises(UnreadablePostError):
        body.read(1 << 20)
