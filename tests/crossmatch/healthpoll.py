"""Polls http://HOST:PORT/PATH every 50 ms until its stdin closes, then prints the worst latency
(s), the number of polls and of failures. It runs in its own process so that what it measures is
the server, not the GIL of the test that drives the load. Prints `polling` once the first poll
has answered."""

from __future__ import annotations

import http.client
import sys
import threading
import time


def main(host: str, port: int, path: str) -> None:
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    worst, polls, failures = 0.0, 0, 0
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            ok = resp.status == 200
        except OSError:
            ok = False
        worst = max(worst, time.monotonic() - t0)
        polls += 1
        failures += not ok
        if polls == 1:
            print("polling", flush=True)
        time.sleep(0.05)
    print(f"{worst:.4f} {polls} {failures}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
