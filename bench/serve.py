"""`deepnet serve` under load, on loopback only: requests per second, p50/p99 latency and
errors with 1, 8 and 64 concurrent clients, for the digits CNN and the text LSTM, against a
naive handler (one request, one forward pass) measured in the same run.

    .venv/bin/python bench/serve.py [--requests N] [--seconds S]   # `make bench`

Each client sends one row per request over its own keep-alive connection; a setting
stops after N requests in all or S seconds, whichever comes first. The clients run in this
process (threads), the server in another: on 2 cores they share the CPU, as a load test
on one machine does. Goal (issue 17): with 64 clients, throughput >= 3x the naive
handler's, p99 under 50 ms, no errors. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = (1, 8, 64)
SERVER = """
import sys, uvicorn
from deepnet.app.serve import make_app
uvicorn.run(make_app(sys.argv[1], batching=sys.argv[2] == "batched"), host="127.0.0.1",
            port=int(sys.argv[3]), log_level="error")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(run_dir: Path, handler: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(run_dir), handler, str(port)])
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the {handler} server did not start")


def _load(port: int, bodies: list[bytes], clients: int, total: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    count = [0]
    stop = time.perf_counter() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = k
        while time.perf_counter() < stop:
            with lock:
                if count[0] >= total:
                    return
                count[0] += 1
            body = bodies[i % len(bodies)]
            i += clients
            t = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                latencies.append(time.perf_counter() - t)
                errors[0] += not ok

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "rps": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "errors": errors[0]}


def _runs(tmp: Path) -> dict[str, tuple[Path, list[bytes]]]:
    """The digits CNN and the text LSTM (a few epochs: speed does not depend on accuracy),
    and request bodies of one row each from their data."""
    import pandas as pd

    import deepnet
    from deepnet.data.sources import load_source

    out = {}
    digits = deepnet.train(deepnet.Spec.from_yaml(ROOT / "examples/digits.yaml",
                                                  ["train.epochs=2"]),
                           out=tmp / "digits", quiet=True, report=False)
    x = load_source(digits.spec.data).x[:200]
    out["digits CNN"] = (digits.path, [json.dumps({"inputs": [r.tolist()]}).encode()
                                       for r in x])
    text = deepnet.train(deepnet.Spec.from_yaml(ROOT / "examples/text_sentiment.yaml",
                                                ["train.epochs=2"]),
                         out=tmp / "text", quiet=True, report=False)
    rows = pd.read_csv(ROOT / "examples/data/sentiment.csv")["text"][:200]
    out["text LSTM"] = (text.path, [json.dumps({"inputs": [r]}).encode() for r in rows])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="requests per setting at most")
    p.add_argument("--seconds", type=float, default=8.0, help="seconds per setting at most")
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="deepnet-bench-serve-") as tmp:
        for model, (run_dir, bodies) in _runs(Path(tmp)).items():
            for handler in ("batched", "naive"):
                proc, port = _start(run_dir, handler)
                try:
                    _load(port, bodies, 8, 100, 5)  # warm-up
                    for clients in CLIENTS:
                        results[(model, handler, clients)] = _load(
                            port, bodies, clients, args.requests, args.seconds)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    print(f"{'model':<12} {'handler':<8} {'clients':>7} {'requests':>8} {'req/s':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for (model, handler, clients), r in results.items():
        print(f"{model:<12} {handler:<8} {clients:>7} {r['requests']:>8} {r['rps']:>8} "
              f"{r['p50_ms']:>7} {r['p99_ms']:>7} {r['errors']:>6}")
    summary = {}
    for model in dict.fromkeys(m for m, _, _ in results):
        b, n = results[(model, "batched", 64)], results[(model, "naive", 64)]
        summary[model] = {"throughput_ratio_64": round(b["rps"] / n["rps"], 2),
                          "p99_ms_64": b["p99_ms"],
                          "errors": sum(r["errors"] for (m, _, _), r in results.items()
                                        if m == model)}
    print(json.dumps({"bench": "serve", "goal": {"throughput_ratio_64": 3.0, "p99_ms_64": 50},
                      "results": summary}))


if __name__ == "__main__":
    main()
