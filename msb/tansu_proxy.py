"""A Kafka-protocol front for tansu that answers ListOffsets with the true end and start of a partition.

tansu reports a partition's end as the base offset of its last record batch + 1: after a producer
batched 8 records into offsets 192..199 it says 193, although all 200 records are readable. Every
client that plans by the end offset then stops short: a Spark source with Trigger.AvailableNow,
a consumer computing lag, ``kcat -e``. When producers write to a partition at once, the end it
reports can even stay put while later batches land.

tansu can also report a partition's start past its first batch: when producers' first batches to a
new partition arrive at once, it may say 8 although offsets 0..7 are stored and readable (about one
new partition in a hundred under concurrent producers). A consumer starting from the earliest offset
(``auto.offset.reset=earliest``, a test reading a whole topic) then silently skips that batch.

Why a proxy rather than each client checking the offsets it is given: the error is the broker's, so
fixing it where it arises fixes every client at once, ours and the user's (Spark's native Kafka
source, kcat, another survey's relay), and leaves the clients' code exactly what runs against real
Kafka. tansu advertises the proxy's address, so every connection (metadata, group coordinator,
fetches) comes through here. Frames are relayed as they are except ListOffsets responses. For each
partition asked for its end, the proxy fetches from the reported end - 1 (the last batch), reads the
batch headers and the Fetch's high watermark, and then checks that end by fetching there (a 1 ms
wait: at once, no records): a batch found there moves the end on (tansu sends the batch holding an
offset, whatever the size limit). For each partition asked for its start, when tansu says more than
0, it fetches from 0 and patches in the first batch's base offset (tansu never deletes records: its
storage is memory only, with no retention). Both are cached per reported offset, so an idle
partition's end costs one empty fetch.

Every other frame is relayed as it comes (:func:`relay`: large ones socket to socket in the kernel,
small ones a buffer at a time), so a connection costs the front its buffers whatever its frames'
sizes. Clients are held to :class:`FrontLimits`: a request's size is checked before its body is
read, a started request must finish within a deadline, idle connections are closed and the number
of connections is capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import time
from dataclasses import dataclass

from msb import kafka_wire as wire

log = logging.getLogger("msb.broker")
MAX_WALK = 1000  # batches an end check follows past tansu's watermark before answering what it has
READ_BUFFER = 256 << 10  # a reader stops taking bytes from its socket past twice this: ~2 MiB per connection in all
PARSED_REQUEST_MAX = 1 << 20  # ListOffsets requests read whole to be parsed: far above any real one
# Frames of at least this size are spliced (Linux): the bulk of the bytes, in fetches and produces.
SPLICE_MIN = 64 << 10
PIPE_SIZE = 1 << 20  # bytes moved per splice (the pipe's capacity, raised from 64 KiB where allowed)
_SPLICE = hasattr(os, "splice") and hasattr(fcntl, "F_SETPIPE_SZ")
REQUEST_HEAD = 8  # api_key, api_version, correlation_id: what the front reads of a request it only relays
RESPONSE_HEAD = 4  # correlation_id
CLOSE_GRACE_S = 5.0


@dataclass(frozen=True)
class FrontLimits:
    """What one client may hold of the front; the defaults are Kafka's broker defaults where it has one."""

    max_request_bytes: int = 100 << 20  # Kafka's socket.request.max.bytes
    request_timeout_s: float = 30.0  # from a request's first byte to its last
    idle_timeout_s: float = 600.0  # Kafka's connections.max.idle.ms
    max_connections: int = 1000


class Refused(Exception):
    """A client broke the front's limits; its connection is dropped (the message says why)."""


async def read_size(reader: asyncio.StreamReader, first: bytes = b"") -> int:
    """A frame's size prefix (``first``: its bytes already read)."""
    (size,) = struct.unpack(">i", first + await reader.readexactly(4 - len(first)))
    return int(size)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One whole frame from tansu (trusted: its size is not checked), for the few frames the front parses."""
    return await reader.readexactly(await read_size(reader))


async def relay(src: asyncio.StreamReader, src_transport: asyncio.BaseTransport, dst: asyncio.StreamWriter,
                size: int) -> None:
    """Sends the next ``size`` bytes of ``src`` to ``dst`` as they come: a frame of any size costs the
    front at most its buffers, never the frame. Large frames (fetched alert packets, produced batches)
    are moved socket to socket by the kernel (splice through a pipe), never through Python objects."""
    if size >= SPLICE_MIN and _SPLICE:
        # What the reader already holds goes first; the transport stops reading so that nothing more
        # lands in its buffer (read() of buffered bytes does not yield, but may resume the transport).
        src_transport.pause_reading()  # type: ignore[attr-defined]
        while size and src._buffer:
            chunk = await src.read(min(size, len(src._buffer)))
            src_transport.pause_reading()  # type: ignore[attr-defined]
            dst.write(chunk)
            size -= len(chunk)
        try:
            if size:
                await _splice(src_transport, dst, size)
        finally:
            if not src_transport.is_closing():
                src_transport.resume_reading()  # type: ignore[attr-defined]
        return
    await _copy(src, dst, size)


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter, size: int) -> int:
    left = size
    while left:
        chunk = await src.read(min(left, READ_BUFFER))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", left)
        dst.write(chunk)
        left -= len(chunk)
        await dst.drain()
    return size


async def _splice(src_transport: asyncio.BaseTransport, dst: asyncio.StreamWriter, size: int) -> None:
    """``size`` bytes from the source socket (its transport paused) to ``dst``'s socket, in the kernel.
    ``dst`` is flushed first (nothing it buffered may come after) and handed back as it was."""
    loop = asyncio.get_running_loop()
    # Duplicates of the sockets' descriptors: asyncio lets nobody but a transport watch its own.
    src_fd = os.dup(src_transport.get_extra_info("socket").fileno())
    dst_fd = os.dup(dst.transport.get_extra_info("socket").fileno())
    limits = dst.transport.get_write_buffer_limits()
    dst.transport.set_write_buffer_limits(0)
    pipe_r, pipe_w = os.pipe()
    try:
        await dst.drain()  # with a zero limit: until everything written before went out
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
        while size:
            try:
                held = os.splice(src_fd, pipe_w, min(size, PIPE_SIZE), flags=flags)
            except BlockingIOError:
                await _ready(loop, src_fd, write=False)
                continue
            if held == 0:
                raise asyncio.IncompleteReadError(b"", size)
            size -= held
            while held:
                try:
                    held -= os.splice(pipe_r, dst_fd, held, flags=flags)
                except BlockingIOError:
                    await _ready(loop, dst_fd, write=True)
    finally:
        for fd in (pipe_r, pipe_w, src_fd, dst_fd):
            os.close(fd)
        dst.transport.set_write_buffer_limits(limits[1], limits[0])


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    """Until ``fd`` can be read (or written)."""
    ready = loop.create_future()
    (loop.add_writer if write else loop.add_reader)(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


def _send(writer: asyncio.StreamWriter, frame: bytes | bytearray) -> None:
    writer.write(struct.pack(">i", len(frame)))
    writer.write(frame)


class TrueOffsets:
    """True partition ends and starts, asked of tansu's Fetch over one connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()
        self._correlation = 0
        # (topic, partition) -> (offset tansu reported, true offset)
        self._starts: dict[tuple[str, int], tuple[int, int]] = {}
        self._ends: dict[tuple[str, int], tuple[int, int]] = {}

    async def true_offset(self, topic: str, partition: int, asked: int, reported: int) -> int:
        """The true answer to a ListOffsets for ``asked`` (LATEST or EARLIEST) that tansu answered ``reported``."""
        if reported <= 0:
            return reported
        if asked == wire.LATEST:
            async with self._lock:
                return await self._true_end(topic, partition, reported)
        cached = self._starts.get((topic, partition))
        if cached and cached[0] == reported:
            return cached[1]
        async with self._lock:
            first = wire.fetched_start(await self._fetch(topic, partition, 0))
        true = reported if first is None else min(reported, first)
        self._starts[(topic, partition)] = (reported, true)  # a start never moves back in tansu: it deletes nothing
        return true

    async def _true_end(self, topic: str, partition: int, reported: int) -> int:
        """One past the last stored batch. From the last batch's header (tansu's reported end is inside
        it when a producer batched) and its Fetch's high watermark, cached per reported end; then
        checked by fetching at that end (1 ms wait: at once, no records), because while producers
        write at once tansu's reported end can stay put as batches land: a batch found there moves
        the end on, batch by batch, to the first offset with none."""
        cached = self._ends.get((topic, partition))
        if cached and cached[0] == reported:
            end = cached[1]
        else:
            last = wire.parse_fetch(await self._fetch(topic, partition, reported - 1))
            end = max(reported, last.high or 0, last.end or 0) if last is not None else reported
        for _ in range(MAX_WALK):
            found = wire.parse_fetch(await self._fetch(topic, partition, end, max_wait_ms=1))
            if found is None or found.end is None or found.end <= end:
                break
            end = found.end
        self._ends[(topic, partition)] = (reported, end)
        return end

    async def _fetch(self, topic: str, partition: int, offset: int, max_wait_ms: int = 100) -> bytes:
        """tansu's answer to a Fetch from ``offset``: the batch holding it (tansu sends one whatever the
        size limit) and the partition's high watermark."""
        for attempt in range(2):  # a dropped connection is reopened once
            try:
                if self._conn is None:
                    self._conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = self._conn
                self._correlation += 1
                writer.write(wire.fetch_request(self._correlation, topic, partition, offset, 1, max_wait_ms))
                await writer.drain()
                return await read_frame(reader)
            except (OSError, asyncio.IncompleteReadError):
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


# correlation -> ListOffsets version, {(topic, partition): LATEST or EARLIEST} asked
Pending = dict[int, tuple[int, dict[tuple[str, int], int]]]


class Link:
    """One client's connection and its own connection to tansu."""

    def __init__(self, peer: str, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.peer, self.client, self.upstream = peer, client, upstream
        self.pending: Pending = {}
        self.active = time.monotonic()  # last frame either way: what idleness is counted from
        self.awaited = 0  # requests relayed whose response has not come back (a JoinGroup may take minutes)
        self.answering = False  # a response is being relayed to the client (which may have stopped reading)
        self.broke_limits = False

    def close(self) -> None:
        """Both sides: at once for a client that broke the limits, else after what is buffered went out,
        or CLOSE_GRACE_S later at most (a client that stopped reading holds nothing for long)."""
        for writer in (self.client, self.upstream):
            if self.broke_limits:
                writer.transport.abort()
            else:
                writer.close()
                asyncio.get_running_loop().call_later(CLOSE_GRACE_S, writer.transport.abort)


class FrontProxy:
    """Relays Kafka connections to tansu at ``upstream``, fixing end and start offsets, within ``limits``."""

    def __init__(self, upstream_host: str, upstream_port: int, limits: FrontLimits | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.limits = limits or FrontLimits()
        self.offsets = TrueOffsets(upstream_host, upstream_port)
        self.connections = 0
        self._said: dict[str, tuple[float, int]] = {}  # kind of complaint -> (when last logged, since unsaid)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, host, port, limit=READ_BUFFER)

    def _complain(self, kind: str, text: str) -> None:
        """A warning, at most one per kind every 10 s (a hostile client must not fill the log)."""
        now = time.monotonic()
        last, unsaid = self._said.get(kind, (0.0, 0))
        if now - last < 10:
            self._said[kind] = (last, unsaid + 1)
            return
        self._said[kind] = (now, 0)
        log.warning("%s%s", text, f" ({unsaid} more like it since the last such line)" if unsaid else "")

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*(client_w.get_extra_info("peername") or ("?", "?"))[:2])
        if self.connections >= self.limits.max_connections:
            self._complain("full", f"refused a connection from {peer}: {self.connections} open, the limit "
                           f"(--max-connections {self.limits.max_connections})")
            client_w.transport.abort()
            return
        self.connections += 1
        try:
            try:
                up_r, up_w = await asyncio.open_connection(*self.upstream, limit=READ_BUFFER)
            except OSError as exc:
                log.warning("tansu unreachable: %s", exc)
                client_w.transport.abort()
                return
            link = Link(peer, client_w, up_w)
            tasks = [asyncio.create_task(self._requests(client_r, link)),
                     asyncio.create_task(self._responses(up_r, link))]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                pass  # the broker is stopping: close quietly
            finally:
                for task in tasks:
                    task.cancel()
                link.close()
        finally:
            self.connections -= 1

    async def _requests(self, src: asyncio.StreamReader, link: Link) -> None:
        try:
            while (first := await self._next_request(src, link)) is not None:
                async with asyncio.timeout(self.limits.request_timeout_s):
                    await self._request(src, link, first)
                link.active = time.monotonic()
                link.awaited += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client left
        except Refused as exc:
            link.broke_limits = True
            self._complain("refused", f"dropped the connection of {link.peer}: {exc}")
        except TimeoutError:
            link.broke_limits = True
            self._complain("slow", f"dropped the connection of {link.peer}: a request still incomplete after "
                           f"{self.limits.request_timeout_s:g} s (--request-timeout)")

    async def _next_request(self, src: asyncio.StreamReader, link: Link) -> bytes | None:
        """The first byte of the next request; None once the connection was idle for the idle timeout:
        no frame either way, and not waiting on tansu for an answer (closed quietly, as Kafka does:
        clients reconnect when they need to). A client that stopped reading its answers is idle too.
        A producer with acks=0 awaits no answer, so is never counted idle while it produces."""
        while True:
            left = link.active + self.limits.idle_timeout_s - time.monotonic()
            if left <= 0 and link.awaited > 0 and not link.answering:
                link.active = time.monotonic()
                continue
            if left <= 0:
                link.broke_limits = True  # nothing in flight: nothing to flush
                log.debug("closing the idle connection of %s", link.peer)
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    return await src.readexactly(1)

    async def _request(self, src: asyncio.StreamReader, link: Link, first: bytes) -> None:
        """Relays one request to tansu, noting the ListOffsets whose answers need fixing."""
        size = await read_size(src, first)
        if not REQUEST_HEAD <= size <= self.limits.max_request_bytes:
            raise Refused(f"a request announced as {size} bytes (accepted: {REQUEST_HEAD} to "
                          f"{self.limits.max_request_bytes}, --max-request-bytes)")
        head = await src.readexactly(REQUEST_HEAD)
        api, version, corr = wire.request_header(head)
        if api == wire.LIST_OFFSETS and version >= 1 and size <= PARSED_REQUEST_MAX:
            frame = head + await src.readexactly(size - REQUEST_HEAD)
            with contextlib.suppress(struct.error, IndexError, UnicodeDecodeError):  # tansu answers a bad one
                asked = wire.parse_list_offsets_request(frame, version)
                if asked:
                    link.pending[corr] = (version, asked)
            _send(link.upstream, frame)
            await link.upstream.drain()
        else:
            link.upstream.write(struct.pack(">i", size) + head)
            await relay(src, link.client.transport, link.upstream, size - REQUEST_HEAD)

    async def _responses(self, src: asyncio.StreamReader, link: Link) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                size = await read_size(src)
                if size < RESPONSE_HEAD:
                    log.warning("tansu sent a %d-byte response to %s: connection closed", size, link.peer)
                    return
                head = await src.readexactly(RESPONSE_HEAD)
                link.answering = True
                asked = link.pending.pop(wire.correlation_id(head), None)
                if asked is not None:  # only these few frames are read whole, to be patched
                    frame = bytearray(head + await src.readexactly(size - RESPONSE_HEAD))
                    await self._fix_offsets(frame, *asked)
                    _send(link.client, frame)
                    await link.client.drain()
                else:
                    link.client.write(struct.pack(">i", size) + head)
                    await relay(src, link.upstream.transport, link.client, size - RESPONSE_HEAD)
                link.active = time.monotonic()
                link.awaited = max(link.awaited - 1, 0)
                link.answering = False

    async def _fix_offsets(self, frame: bytearray, version: int, asked: dict[tuple[str, int], int]) -> None:
        try:
            for answer in wire.parse_list_offsets_response(frame, version):
                which = asked.get((answer.topic, answer.partition))
                if answer.error == 0 and which is not None:
                    true = await self.offsets.true_offset(answer.topic, answer.partition, which, answer.offset)
                    if true != answer.offset:
                        wire.patch_offset(frame, answer.position, true)
        except (OSError, asyncio.IncompleteReadError, struct.error, IndexError, UnicodeDecodeError) as exc:
            # The answer goes out as tansu gave it rather than the connection failing.
            log.warning("offset check failed, relaying tansu's answer: %r", exc)
