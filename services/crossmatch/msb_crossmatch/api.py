"""The HTTP API (aiohttp): POST /crossmatch, GET /catalogs, /healthz, /readyz, /metrics.

``POST /xmatch``, the former name of ``/crossmatch``, still answers the same, with a ``Deprecation``
header and a ``Link`` to its successor, and is logged (at most once a minute) so that its callers can
be found and moved.

It runs in its own thread and event loop beside the Kafka loop (or alone, `msb crossmatch --api-only`).
No client, careless or hostile, may starve the others or the health probes, so every request is
bounded (ApiLimits, the `msb crossmatch` flags): the body's size and the time to send it, the
positions, the matcher's work, the answer's size and the requests in progress, each refused with
a 4xx that says what to change. Parsing, matching and serialising run on worker threads, in
slices of bounded work: the event loop only moves bytes, and no step holds the GIL for long.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from msb_crossmatch.limits import MAX_POSITIONS, ApiLimits
from msb_crossmatch.match import EVIDENCE, BatchResult, Crossmatcher, display_value
from msb_crossmatch.metrics import CrossmatchMetrics
from msb_crossmatch.store import Matches

MAX_RADIUS_ARCSEC = 3600.0
MAX_RA_DEG = 360.0  # right ascensions in [-360, 360] are wrapped into [0, 360)
SLICE_WORK = 100_000  # matcher work per slice of positions: keeps each step's memory to ~15 MB
# Python runs one thread at a time (the GIL): more workers than cores only make the event loop
# wait longer for its turn, not the answers faster. Requests beyond them queue (still counted in progress).
WORKER_THREADS = 2
SWITCH_INTERVAL_S = 0.001
LINGER_S = 5.0  # after an early 413/429, read and drop the rest of the body this long, so the client sees the answer
_WRITE_BLOCK = 1 << 18
_DUMPS_BLOCK = 2000  # match entries per json.dumps call (~1 ms of GIL each)
# The smallest `"all"` match entry: a lower bound of the answer's size before it is built.
_MIN_ENTRY_BYTES = len(json.dumps({"value": "", "sep_arcsec": 0.0, "ra": 0.0, "dec": 0.0}))
_MAX_INT_DIGITS = 4300  # Python's own limit on int parsing (quadratic beyond), said in the API's words


LIMITS_KEY = web.AppKey("msb_api_limits", ApiLimits)
CROSSMATCH_PATH = "/crossmatch"
DEPRECATED_PATHS = {"/xmatch": CROSSMATCH_PATH}  # former name -> its successor
DEPRECATION_LOG_EVERY_S = 60.0

log = logging.getLogger("msb.crossmatch.api")


class _DeprecatedPaths:
    """Marks every answer to a former path deprecated and logs its use, at most once a minute
    (with the count since the last line), so a busy caller does not flood the log."""

    def __init__(self) -> None:
        self.unlogged: dict[str, int] = {}
        self.logged_at: dict[str, float] = {}

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        successor = DEPRECATED_PATHS.get(request.path)
        if successor is None:
            return
        response.headers["Deprecation"] = "true"
        response.headers[hdrs.LINK] = f'<{successor}>; rel="successor-version"'
        self.unlogged[request.path] = self.unlogged.get(request.path, 0) + 1
        now = time.monotonic()
        if now - self.logged_at.get(request.path, -math.inf) >= DEPRECATION_LOG_EVERY_S:
            peer = request.remote or "?"
            log.warning("%s %s is deprecated, use %s (%d request(s) since the last notice, latest from %s)",
                        request.method, request.path, successor, self.unlogged[request.path], peer)
            self.logged_at[request.path], self.unlogged[request.path] = now, 0


class RequestError(ValueError):
    """A refused request: answered with `status` and {"error": message}; `reason` labels the metric."""

    def __init__(self, message: str, status: int = 400, reason: str = "bad_request",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.headers = status, reason, headers


class State:
    """Readiness shared with the service loop: ready once catalogs are open (and Kafka joined)."""

    def __init__(self) -> None:
        self.ready = False
        self.reason = "starting"


# ----------------------------------------------------------------------------- parsing


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def _show(value: Any) -> str:
    """A value for an error message, kept short whatever the client sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[:6]}...({len(digits)} digits)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: JSON allows it, a float cannot hold it
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _json_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text):,} digits is out of range")
    return int(text)


def parse_json(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows (the answer could not carry them back)."""
    try:
        return json.loads(body, parse_constant=_json_constant, parse_float=_json_float, parse_int=_json_int)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(f"body is not valid JSON: {exc}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{where} must be a number, got {_show(value)}")
    try:
        out = float(value)
    except OverflowError:
        raise RequestError(f"{where} = {_show(value)} is out of range") from None
    if not math.isfinite(out):
        raise RequestError(f"{where} must be finite, got {_show(value)}")
    return out


def _check_count(n: int, max_positions: int) -> None:
    if n > max_positions:
        raise RequestError(f"too many positions: {n} > {max_positions} per request; split it", 413,
                           "too_many_positions")


def parse_request(body: Any, known: list[str], max_positions: int = MAX_POSITIONS) -> dict[str, Any]:
    """Validated request: ra, dec, ids, evidence, catalogs, radius, all. Raises RequestError."""
    if not isinstance(body, dict):
        raise RequestError('body must be a JSON object such as {"positions": [{"ra": 10.5, "dec": -3.2}]}')
    positions = body.get("positions")
    if positions is None and "ra" in body and "dec" in body:
        ras, decs = body["ra"], body["dec"]
        if not isinstance(ras, list) or not isinstance(decs, list) or len(ras) != len(decs):
            raise RequestError("'ra' and 'dec' must be lists of the same length")
        _check_count(len(ras), max_positions)
        positions = [{"ra": r, "dec": d} for r, d in zip(ras, decs, strict=True)]
    if not isinstance(positions, list) or not positions:
        raise RequestError("'positions' must be a non-empty list of {\"ra\": deg, \"dec\": deg} objects")
    _check_count(len(positions), max_positions)
    n = len(positions)
    ra, dec = np.empty(n), np.empty(n)
    ids: list[Any] = []
    evidence = {k: np.full(n, np.nan) for k in EVIDENCE}
    for i, p in enumerate(positions):
        if not isinstance(p, dict):
            raise RequestError(f"positions[{i}] must be an object with ra and dec")
        for k in ("ra", "dec"):
            if k not in p:
                raise RequestError(f"positions[{i}] has no '{k}'")
        ra[i] = _number(p["ra"], f"positions[{i}].ra")
        dec[i] = _number(p["dec"], f"positions[{i}].dec")
        if abs(ra[i]) > MAX_RA_DEG:
            raise RequestError(f"positions[{i}].ra = {ra[i]:g} is outside [-360, 360] degrees")
        if abs(dec[i]) > 90:
            raise RequestError(f"positions[{i}].dec = {dec[i]:g} is outside [-90, 90] degrees")
        ids.append(p.get("id", i))
        for k in EVIDENCE:
            if p.get(k) is not None:
                evidence[k][i] = _number(p[k], f"positions[{i}].{k}")
    catalogs = body.get("catalogs")
    if catalogs is not None:
        if not isinstance(catalogs, list) or not all(isinstance(c, str) for c in catalogs):
            raise RequestError("'catalogs' must be a list of catalog names")
        unknown = [c for c in catalogs if c not in known]
        if unknown:
            raise RequestError(f"unknown catalog(s) {', '.join(map(_show, unknown))}; known: {', '.join(known)}")
        catalogs = list(dict.fromkeys(catalogs)) or None  # each once; [] means all, as before
    radius = body.get("radius")
    if radius is not None:
        radius = _number(radius, "radius")
        if not 0 < radius <= MAX_RADIUS_ARCSEC:
            raise RequestError(f"radius = {radius:g} arcsec is outside (0, {MAX_RADIUS_ARCSEC:g}]")
    want_all = body.get("all", False)
    if not isinstance(want_all, bool):
        raise RequestError("'all' must be true or false")
    return {"ra": np.mod(ra, 360.0), "dec": dec, "ids": ids, "evidence": evidence, "catalogs": catalogs,
            "radius": radius, "all": want_all}


# ----------------------------------------------------------------------------- answering (worker threads)


def answer(xm: Crossmatcher, body: bytes, limits: ApiLimits) -> bytes:
    """The JSON answer to a request body; RequestError when it must be refused.
    Every step is bounded: the body by the reader, the positions by parse_request, the matcher's
    work by counting it before any match, and the answer by counting its bytes as it is built."""
    req = parse_request(parse_json(body), list(xm.catalogs), limits.max_positions)
    work = xm.work(req["ra"], req["dec"], req["catalogs"], req["radius"], limits.max_work)
    if int(work.sum()) > limits.max_work:
        raise RequestError(_too_much_work(req, int(work.sum()), limits.max_work, xm), 413, "too_much_work")
    return b"".join(_serialised(xm, req, work, limits.max_response))


def _too_much_work(req: dict[str, Any], total: int, limit: int, xm: Crossmatcher) -> str:
    n, cats = len(req["ra"]), len(req["catalogs"] or xm.catalogs)
    radius = f'radius {req["radius"]:g}"' if req["radius"] is not None else "the catalogs' own radii"
    return (f"too much work: {n:,} position(s) in {cats} catalog(s) at {radius} would examine at least "
            f"{total:,} catalog rows and zone intervals, over the limit of {limit:,} per request; "
            "send fewer positions, a smaller radius or fewer catalogs")


def _too_large(req: dict[str, Any], limit: int, why: str) -> RequestError:
    fix = 'fewer positions, a smaller radius, or no "all" (nearest match only)' if req["all"] else \
        "fewer positions or fewer catalogs"
    return RequestError(f"the answer would be larger than {_mib(limit)}, the limit per response ({why}); "
                        f"ask for {fix}", 413, "response_too_large")


def _slices(work: np.ndarray, size: int) -> Iterator[tuple[int, int]]:
    """Consecutive runs of positions whose work adds up to at most `size` (or one position)."""
    cum = np.cumsum(work)
    start = 0
    while start < len(work):
        end = max(int(np.searchsorted(cum, cum[start] - work[start] + size, side="right")), start + 1)
        yield start, end
        start = end


def _serialised(xm: Crossmatcher, req: dict[str, Any], work: np.ndarray, max_bytes: int) -> list[bytes]:
    """The answer, byte for byte as json.dumps({"count", "catalogs", "results"}) writes it, built
    slice by slice of positions and refused as soon as it outgrows max_bytes."""
    names = req["catalogs"] or list(xm.catalogs)
    head = json.dumps({"count": len(req["ra"]), "catalogs": names})[:-1] + ', "results": ['
    pieces = [head.encode()]
    size = len(pieces[0]) + 2
    if req["all"]:
        _check_all_entries(xm, req, work, names, max_bytes, size)
    for s, e in _slices(work, SLICE_WORK):
        res = xm.run(req["ra"][s:e], req["dec"][s:e], {k: v[s:e] for k, v in req["evidence"].items()},
                     req["catalogs"], req["radius"])
        for i, text in enumerate(_result_texts(res, req, names, s)):
            piece = (", " if s + i else "") + text
            size += len(piece)
            if size > max_bytes:
                raise _too_large(req, max_bytes, f"reached after {s + i:,} of {len(req['ra']):,} positions")
            pieces.append(piece.encode())
    pieces.append(b"]}")
    return pieces


def _check_all_entries(xm: Crossmatcher, req: dict[str, Any], work: np.ndarray, names: list[str],
                       max_bytes: int, size: int) -> None:
    """Refuses an "all" answer that cannot fit before building any of it: matching alone (a
    fraction of the cost of writing the matches out) counts its entries, each at least
    _MIN_ENTRY_BYTES long."""
    entries = 0
    for s, e in _slices(work, SLICE_WORK):
        for name in names:
            entries += len(xm.catalogs[name].match(req["ra"][s:e], req["dec"][s:e], req["radius"]).alert)
            if size + entries * _MIN_ENTRY_BYTES > max_bytes:
                raise _too_large(req, max_bytes, f"{entries:,} matches or more, each at least {_MIN_ENTRY_BYTES} "
                                 "bytes")


def _dumps_list(items: list[Any]) -> str:
    """json.dumps(items), a block at a time: one call on a long list would hold the GIL (and keep
    the event loop waiting) until done."""
    if len(items) <= _DUMPS_BLOCK:
        return json.dumps(items)
    blocks = (json.dumps(items[i:i + _DUMPS_BLOCK])[1:-1] for i in range(0, len(items), _DUMPS_BLOCK))
    return "[" + ", ".join(blocks) + "]"


def _all_matches(m: Matches) -> dict[int, list[dict[str, Any]]]:
    """Every match of one catalog, per position (index in the slice), nearest first."""
    order = np.argsort(m.sep_arcsec, kind="stable")
    groups: dict[int, list[dict[str, Any]]] = {}
    for a, v, sep, ra, dec in zip(m.alert[order].tolist(), display_value(m, order).tolist(),
                                  m.sep_arcsec[order].tolist(), m.ra[order].tolist(), m.dec[order].tolist(),
                                  strict=True):
        groups.setdefault(a, []).append({"value": v, "sep_arcsec": round(sep, 6), "ra": ra, "dec": dec})
    return groups


def _result_texts(res: BatchResult, req: dict[str, Any], names: list[str], offset: int) -> Iterator[str]:
    """The JSON of each position of one slice (`offset`: the slice's first position)."""
    every = {name: _all_matches(res.matches[name]) for name in names} if req["all"] else {}
    for i in range(res.n):
        matches: dict[str, Any] = {}
        for name in names:
            if req["all"]:
                matches[name] = every[name].get(i, [])
            else:
                v = res.columns[f"xm_{name}"][i]
                sep = res.columns[f"xm_{name}_sep"][i]
                matches[name] = None if v is None else {"value": v, "sep_arcsec": round(float(sep), 6)}
        k = offset + i
        result = {"id": req["ids"][k], "ra": float(req["ra"][k]), "dec": float(req["dec"][k]),
                  "classification": res.classification[i], "reason": res.reason[i], "matches": matches}
        if not req["all"] or all(len(v) <= _DUMPS_BLOCK for v in matches.values()):
            yield json.dumps(result)
            continue
        # long match lists: the same text, with each list written a block at a time
        del result["matches"]
        lists = ", ".join(f"{json.dumps(name)}: {_dumps_list(v)}" for name, v in matches.items())
        yield f'{json.dumps(result)[:-1]}, "matches": {{{lists}}}}}'


# ----------------------------------------------------------------------------- the app (event loop)


class _Gate:
    """The request limits checked before a body byte is read; the count of /crossmatch requests in
    progress lives on the event loop thread only, so it needs no lock."""

    def __init__(self, limits: ApiLimits) -> None:
        self.limits = limits
        self.in_progress = 0

    def refusal(self, request: web.BaseRequest) -> RequestError | None:
        lim = self.limits
        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
        if encoding not in ("", "identity"):
            return RequestError(f"Content-Encoding {encoding!r} is not accepted: send the JSON uncompressed", 415)
        length = request.content_length
        if length is not None and length > lim.max_body:
            return _body_too_large(lim, length)
        if self.in_progress >= lim.max_concurrent:
            return RequestError(f"busy: {self.in_progress} /crossmatch requests are in progress, the most this server "
                                "takes at once; retry in a second", 429, "busy", {hdrs.RETRY_AFTER: "1"})
        return None


def _body_too_large(lim: ApiLimits, length: int | None = None) -> RequestError:
    size = f" {length:,} bytes," if length is not None else ""
    return RequestError(f"body is{size} over the limit of {lim.max_body:,} bytes ({_mib(lim.max_body)}); "
                        f"send fewer positions per request (at most {lim.max_positions:,}) and split the rest",
                        413, "body_too_large")


async def _read_body(request: web.Request, limits: ApiLimits) -> bytes:
    """The body, refused as soon as it grows past the limit (a chunked body has no Content-Length),
    or when it has not all arrived within the body timeout (408)."""
    body = bytearray()
    try:
        async with asyncio.timeout(limits.body_timeout):
            while chunk := await request.content.readany():
                body += chunk
                if len(body) > limits.max_body:
                    raise _body_too_large(limits)
    except TimeoutError:
        raise RequestError(f"the request body did not arrive within {limits.body_timeout:g} s "
                           f"({len(body):,} bytes came); send it whole", 408, "timeout") from None
    return bytes(body)


def _error(exc: RequestError, metrics: CrossmatchMetrics) -> web.Response:
    metrics.api_refused.labels(exc.reason).inc()
    return web.json_response({"error": str(exc)}, status=exc.status, headers=exc.headers)


async def _closing(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Sends resp, then closes the connection at once (no lingering read of a body that stalled)."""
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    request.protocol.force_close()
    return resp


async def _send(request: web.Request, body: bytes, timeout: float) -> web.StreamResponse:
    """The answer, in blocks; a client that stops reading it is cut off after `timeout`."""
    resp = web.StreamResponse()
    resp.content_type, resp.charset, resp.content_length = "application/json", "utf-8", len(body)
    try:
        async with asyncio.timeout(timeout):
            await resp.prepare(request)
            for i in range(0, len(body), _WRITE_BLOCK):
                await resp.write(body[i:i + _WRITE_BLOCK])
            await resp.write_eof()
    except TimeoutError:
        request.protocol.force_close()
    except ConnectionError:
        pass  # the client left before its answer: nothing to do
    return resp


def build_app(xm: Crossmatcher, metrics: CrossmatchMetrics, state: State,
              limits: ApiLimits | None = None) -> web.Application:
    limits = limits or ApiLimits()
    gate = _Gate(limits)
    workers = ThreadPoolExecutor(max_workers=min(limits.max_concurrent, WORKER_THREADS),
                                 thread_name_prefix="msb-crossmatch-api-work")

    async def expect(request: web.Request) -> web.StreamResponse | None:
        """Expect: 100-continue (curl sends it for bodies over 1 MiB): refuse before the body is sent."""
        if request.version != HttpVersion11:
            return None
        if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"unknown Expect: {request.headers.get(hdrs.EXPECT)}")
        refused = gate.refusal(request)
        if refused is not None:
            return _error(refused, metrics)
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's own bytes start after this interim line
        return None

    async def crossmatch(request: web.Request) -> web.StreamResponse:
        refused = gate.refusal(request)
        if refused is not None:
            return _error(refused, metrics)
        gate.in_progress += 1
        try:
            try:
                body = await _read_body(request, limits)
                out = await asyncio.get_running_loop().run_in_executor(workers, answer, xm, body, limits)
            except RequestError as exc:
                resp = _error(exc, metrics)
                return await _closing(request, resp) if exc.status == 408 else resp
            except ConnectionError:  # the client left mid-body: no one to answer
                return web.Response(status=400)
            return await _send(request, out, limits.body_timeout)
        finally:
            gate.in_progress -= 1

    async def catalogs(_request: web.Request) -> web.Response:
        out = []
        for name, cat in xm.catalogs.items():
            m = cat.manifest
            out.append({"name": name, "rows": m.rows, "radius_arcsec": m.radius_arcsec,
                        "label_column": m.columns.get("label"), "id_column": m.columns.get("id"),
                        "per_row_radius_column": m.columns.get("radius"), "partition_order": m.partition_order,
                        "partitions": len(m.partitions), "in_memory": cat.eager,
                        "load_seconds": round(cat.load_seconds, 3), "note": m.note, "built_at": m.built_at})
        return web.json_response({"catalogs": out})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        return web.json_response({"ready": state.ready, "reason": state.reason}, status=200 if state.ready else 503)

    async def metrics_view(_request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(metrics.registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def stop_workers(_app: web.Application) -> None:
        workers.shutdown(wait=False, cancel_futures=True)

    app = web.Application(client_max_size=limits.max_body)
    app[LIMITS_KEY] = limits
    app.on_cleanup.append(stop_workers)
    app.on_response_prepare.append(_DeprecatedPaths().on_prepare)
    app.router.add_post(CROSSMATCH_PATH, crossmatch, expect_handler=expect)
    for former in DEPRECATED_PATHS:
        app.router.add_post(former, crossmatch, expect_handler=expect)
    app.router.add_get("/catalogs", catalogs)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


class ApiServer:
    """The app on host:port in a daemon thread (port 0 = any free port; .port tells which).
    A connection must complete each request head within the app's header timeout (aiohttp's
    keep-alive timer, which also closes a connection that has not yet sent a whole head)."""

    def __init__(self, app: web.Application, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.app, self.host, self.port = app, host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="msb-crossmatch-api", daemon=True)

    def start(self) -> int:
        # The event loop needs the GIL back quickly while worker threads run Python: it waits at
        # most the switch interval for each turn (5 ms by default, a few turns per request).
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        # What exists now (catalogs, libraries) lives as long as the process: a full garbage
        # collection, triggered by the objects a large answer allocates, needn't scan it again
        # (that scan held the GIL for 70-200 ms, stalling /healthz).
        gc.freeze()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self.port

    async def _start(self) -> None:
        limits = self.app.get(LIMITS_KEY) or ApiLimits()
        self._runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=limits.header_timeout,
                                     lingering_time=LINGER_S, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
