"""The optional remote CDS xMatch backend, against a local server that answers like CDS xMatch."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator

import numpy as np
import pytest
from aiohttp import web

from msb_crossmatch.api import ApiServer
from msb_crossmatch.cds import FAIL, CdsXmatch
from msb_crossmatch.match import Crossmatcher


def fake_cds(mode: dict[str, str]) -> web.Application:
    async def sync(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["request"] == "xmatch" and form["cat2"] == "simbad" and form["RESPONSEFORMAT"] == "csv"
        if mode["kind"] == "error":
            return web.Response(status=500, text="Internal error: too many requests")
        if mode["kind"] == "slow":
            await asyncio.sleep(3)
        rows = list(csv.DictReader(io.StringIO(form["cat1"].file.read().decode())))
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["angDist", "id", "ra", "dec", "main_id", "main_type"])
        for r in rows:  # like SIMBAD: only positions north of the equator have a counterpart
            if float(r["dec"]) > 0:
                w.writerow([0.3, r["id"], r["ra"], r["dec"], f"V* X{r['id']}", "RR*"])
        return web.Response(text=out.getvalue(), content_type="text/csv")

    app = web.Application()
    app.router.add_post("/xmatch/api/v1/sync", sync)
    return app


@pytest.fixture(scope="module")
def cds() -> Iterator[tuple[str, dict[str, str]]]:
    mode = {"kind": "ok"}
    server = ApiServer(fake_cds(mode), "127.0.0.1", 0)
    port = server.start()
    yield f"http://127.0.0.1:{port}/xmatch/api/v1/sync", mode
    server.stop()


def test_remote_labels_feed_the_classification(cds, xm) -> None:
    url, mode = cds
    mode["kind"] = "ok"
    remote = CdsXmatch(url, timeout=2)
    both = Crossmatcher(xm.catalogs, xm.classifier, remote=remote)
    res = both.run(np.array([10.0, 20.0]), np.array([45.0, -45.0]))
    assert res.columns["xm_simbad"].tolist() == ["RR*", None]
    assert res.classification.tolist() == ["RRLyrae", "Unknown"]


@pytest.mark.parametrize("kind", ["error", "slow"])
def test_remote_failures_label_the_batch_fail(cds, kind: str) -> None:
    url, mode = cds
    mode["kind"] = kind
    failures: list[str] = []
    remote = CdsXmatch(url, timeout=1, on_failure=failures.append)
    out = remote(np.array([10.0, 20.0]), np.array([45.0, -45.0]))
    assert out.tolist() == [FAIL, FAIL]
    assert failures and ("500" in failures[0] if kind == "error" else "Timeout" in failures[0])


def test_unreachable_remote_is_fail() -> None:
    remote = CdsXmatch("http://127.0.0.1:9/xmatch", timeout=1)
    assert remote(np.array([1.0]), np.array([2.0])).tolist() == [FAIL]
