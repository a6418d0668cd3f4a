"""The front's relay: large frames go socket to socket in the kernel, byte for byte, whatever the reader
had already buffered, and the sockets are handed back as they were (also when the relay is cut off)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from msb import tansu_proxy


async def _pairs() -> tuple[socket.socket, asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamWriter,
                            socket.socket]:
    """(sender, its reader's stream pair, the destination writer, the destination's far end)."""
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    for s in (a, b, c, d):
        s.setblocking(False)
    src_r, src_w = await asyncio.open_connection(sock=b)
    _, dst_w = await asyncio.open_connection(sock=c)
    return a, src_r, src_w, dst_w, d


@pytest.mark.parametrize("size", [70_000, 5_000_000])
def test_a_frame_arrives_whole_after_what_was_buffered(size: int) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        sender, src_r, src_w, dst_w, far = await _pairs()
        payload, after = os.urandom(size), b"next frame"
        await loop.sock_sendall(sender, payload[:1000])
        await asyncio.sleep(0.05)  # the reader has buffered the first bytes before the relay starts
        dst_w.write(b"head")  # written before the frame: must go out first
        feeding = asyncio.create_task(loop.sock_sendall(sender, payload[1000:] + after))
        got = bytearray()

        async def receive() -> None:
            while len(got) < 4 + size:
                got.extend(await loop.sock_recv(far, 1 << 20))

        receiving = asyncio.create_task(receive())
        await tansu_proxy.relay(src_r, src_w.transport, dst_w, size)
        await asyncio.wait_for(asyncio.gather(feeding, receiving), 30)
        assert bytes(got[: 4 + size]) == b"head" + payload
        assert await asyncio.wait_for(src_r.readexactly(len(after)), 10) == after  # reading resumed, nothing lost

    asyncio.run(run())


def test_a_relay_cut_off_leaves_no_descriptor_and_reading_resumed() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        sender, src_r, src_w, dst_w, _far = await _pairs()
        before = len(os.listdir("/proc/self/fd"))
        await loop.sock_sendall(sender, b"x" * 100_000)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):  # the rest of the 10 MB never comes
                await tansu_proxy.relay(src_r, src_w.transport, dst_w, 10_000_000)
        assert len(os.listdir("/proc/self/fd")) == before
        assert src_w.transport.is_reading()

    asyncio.run(run())
