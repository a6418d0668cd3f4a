"""The HTTP API (aiohttp): POST /xmatch, GET /catalogs, /healthz, /readyz, /metrics.

It runs in its own thread and event loop beside the Kafka loop (or alone, `msb xmatch --api-only`);
the crossmatch itself runs in a worker thread so a large request never blocks health checks.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from msb.crossmatch.match import EVIDENCE, Crossmatcher, display_value
from msb.crossmatch.metrics import CrossmatchMetrics

MAX_POSITIONS = 10_000
MAX_RADIUS_ARCSEC = 3600.0


class RequestError(ValueError):
    """A bad request: answered with `status` and {"error": message}."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class State:
    """Readiness shared with the service loop: ready once catalogs are open (and Kafka joined)."""

    def __init__(self) -> None:
        self.ready = False
        self.reason = "starting"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RequestError(f"{where} must be finite, got {value!r}")
    return float(value)


def parse_request(body: Any, known: list[str], max_positions: int = MAX_POSITIONS) -> dict[str, Any]:
    """Validated request: ra, dec, ids, evidence, catalogs, radius, all. Raises RequestError."""
    if not isinstance(body, dict):
        raise RequestError('body must be a JSON object such as {"positions": [{"ra": 10.5, "dec": -3.2}]}')
    positions = body.get("positions")
    if positions is None and "ra" in body and "dec" in body:
        ras, decs = body["ra"], body["dec"]
        if not isinstance(ras, list) or not isinstance(decs, list) or len(ras) != len(decs):
            raise RequestError("'ra' and 'dec' must be lists of the same length")
        positions = [{"ra": r, "dec": d} for r, d in zip(ras, decs, strict=True)]
    if not isinstance(positions, list) or not positions:
        raise RequestError("'positions' must be a non-empty list of {\"ra\": deg, \"dec\": deg} objects")
    if len(positions) > max_positions:
        raise RequestError(f"too many positions: {len(positions)} > {max_positions} per request; split it", 413)
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
            raise RequestError(f"unknown catalog(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
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


def _xmatch(xm: Crossmatcher, req: dict[str, Any]) -> dict[str, Any]:
    res = xm.run(req["ra"], req["dec"], req["evidence"], req["catalogs"], req["radius"])
    names = req["catalogs"] or list(xm.catalogs)
    results = []
    per_cat_all: dict[str, dict[int, list[dict[str, Any]]]] = {}
    if req["all"]:
        for name in names:
            m = res.matches[name]
            vals = display_value(m, np.arange(len(m.alert)))
            groups: dict[int, list[dict[str, Any]]] = {}
            for j in np.argsort(m.sep_arcsec, kind="stable"):
                groups.setdefault(int(m.alert[j]), []).append(
                    {"value": vals[j], "sep_arcsec": round(float(m.sep_arcsec[j]), 6),
                     "ra": float(m.ra[j]), "dec": float(m.dec[j])})
            per_cat_all[name] = groups
    for i in range(res.n):
        matches: dict[str, Any] = {}
        for name in names:
            if req["all"]:
                matches[name] = per_cat_all[name].get(i, [])
            else:
                v = res.columns[f"xm_{name}"][i]
                sep = res.columns[f"xm_{name}_sep"][i]
                matches[name] = None if v is None else {"value": v, "sep_arcsec": round(float(sep), 6)}
        results.append({"id": req["ids"][i], "ra": float(req["ra"][i]), "dec": float(req["dec"][i]),
                        "classification": res.classification[i], "reason": res.reason[i], "matches": matches})
    return {"count": res.n, "catalogs": names, "results": results}


def build_app(xm: Crossmatcher, metrics: CrossmatchMetrics, state: State,
              max_positions: int = MAX_POSITIONS) -> web.Application:
    async def xmatch(request: web.Request) -> web.Response:
        try:
            try:
                body = await request.json()
            except Exception as exc:  # noqa: BLE001 - any unparsable body
                raise RequestError(f"body is not valid JSON: {exc}") from None
            req = parse_request(body, list(xm.catalogs), max_positions)
        except RequestError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        return web.json_response(await asyncio.to_thread(_xmatch, xm, req))

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

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/xmatch", xmatch)
    app.router.add_get("/catalogs", catalogs)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


class ApiServer:
    """The app on host:port in a daemon thread (port 0 = any free port; .port tells which)."""

    def __init__(self, app: web.Application, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.app, self.host, self.port = app, host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="msb-xmatch-api", daemon=True)

    def start(self) -> int:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self.port

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
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
