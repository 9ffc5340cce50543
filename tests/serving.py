"""A `deepnet serve` process for the tests, and requests to it."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: bytes | None = None, headers=None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Server:
    def __init__(self, run_dir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "deepnet", "serve", str(run_dir),
                                      "--port", str(self.port)], stderr=subprocess.PIPE,
                                     text=True)
        for _ in range(300):
            try:
                if request(self.url + "/health")[1] == {"status": "ok"}:
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError(self.proc.stderr.read())

    def predict(self, payload) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return request(self.url + "/predict", body)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)
