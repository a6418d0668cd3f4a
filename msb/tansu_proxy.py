"""A Kafka-protocol front for tansu that answers ListOffsets(LATEST) with the true end of a partition.

tansu reports a partition's end as the base offset of its last record batch + 1: after a producer
batched 8 records into offsets 192..199 it says 193, although all 200 records are readable. Every
client that plans by the end offset then stops short: a Spark source with Trigger.AvailableNow,
a consumer computing lag, ``kcat -e``.

Why a proxy rather than each client checking the end it is given: the error is the broker's, so
fixing it where it arises fixes every client at once, ours and the user's (Spark's native Kafka
source, kcat, another survey's relay), and leaves the clients' code exactly what runs against real
Kafka. tansu advertises the proxy's address, so every connection (metadata, group coordinator,
fetches) comes through here. Frames are relayed as they are except ListOffsets responses: for
each partition asked for its end, the proxy fetches from the reported end - 1 (the last batch),
reads the batch headers and patches in base + last offset delta + 1. The answer is cached per
reported end, which only moves when a batch is appended, so an idle partition costs no fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

from msb import kafka_wire as wire

log = logging.getLogger("msb.broker")
FETCH_MAX_BYTES = 64 << 20  # one record batch of alert packets fits


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def _send(writer: asyncio.StreamWriter, frame: bytes | bytearray) -> None:
    writer.write(struct.pack(">i", len(frame)))
    writer.write(frame)


class EndOffsets:
    """True partition ends, found by reading the last batch's header from tansu over one connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()
        self._correlation = 0
        self._known: dict[tuple[str, int], tuple[int, int]] = {}  # (topic, partition) -> (reported, true)

    async def true_end(self, topic: str, partition: int, reported: int) -> int:
        if reported <= 0:
            return reported
        cached = self._known.get((topic, partition))
        if cached and cached[0] == reported:
            return cached[1]
        async with self._lock:
            end = await self._fetch_end(topic, partition, reported - 1)
        true = max(reported, end or 0)
        self._known[(topic, partition)] = (reported, true)
        return true

    async def _fetch_end(self, topic: str, partition: int, offset: int) -> int | None:
        for attempt in range(2):  # a dropped connection is reopened once
            try:
                if self._conn is None:
                    self._conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = self._conn
                self._correlation += 1
                writer.write(wire.fetch_request(self._correlation, topic, partition, offset, FETCH_MAX_BYTES))
                await writer.drain()
                return wire.fetched_end(await _read_frame(reader))
            except (OSError, asyncio.IncompleteReadError):
                self._conn = None
                if attempt:
                    raise
        return None


class FrontProxy:
    """Relays Kafka connections from ``listen`` to tansu at ``upstream``, fixing end offsets."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.ends = EndOffsets(upstream_host, upstream_port)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            log.warning("tansu unreachable: %s", exc)
            client_w.close()
            return
        pending: dict[int, tuple[int, set[tuple[str, int]]]] = {}  # correlation -> ListOffsets version, asked
        tasks = [asyncio.create_task(self._requests(client_r, up_w, pending)),
                 asyncio.create_task(self._responses(up_r, client_w, pending))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the broker is stopping: close quietly
        finally:
            for task in tasks:
                task.cancel()
            for w in (client_w, up_w):
                w.close()

    async def _requests(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                        pending: dict[int, tuple[int, set[tuple[str, int]]]]) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await _read_frame(src)
                api, version, corr = wire.request_header(frame)
                if api == wire.LIST_OFFSETS and version >= 1:
                    latest = wire.parse_list_offsets_request(frame, version)
                    if latest:
                        pending[corr] = (version, latest)
                _send(dst, frame)
                await dst.drain()

    async def _responses(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                         pending: dict[int, tuple[int, set[tuple[str, int]]]]) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame: bytes | bytearray = await _read_frame(src)
                asked = pending.pop(wire.correlation_id(frame), None)
                if asked is not None:  # only these few frames are copied, to be patched
                    frame = bytearray(frame)
                    await self._fix_ends(frame, *asked)
                _send(dst, frame)
                await dst.drain()

    async def _fix_ends(self, frame: bytearray, version: int, latest: set[tuple[str, int]]) -> None:
        try:
            for answer in wire.parse_list_offsets_response(frame, version):
                if answer.error == 0 and (answer.topic, answer.partition) in latest:
                    true = await self.ends.true_end(answer.topic, answer.partition, answer.offset)
                    if true != answer.offset:
                        wire.patch_offset(frame, answer.position, true)
        except (OSError, asyncio.IncompleteReadError, struct.error, IndexError, UnicodeDecodeError) as exc:
            # The answer goes out as tansu gave it rather than the connection failing.
            log.warning("end offset check failed, relaying tansu's answer: %r", exc)
