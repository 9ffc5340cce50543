"""`deepnet serve`: a trained run behind an HTTP JSON API (FastAPI on uvicorn: a
well-kept ASGI stack whose request models are pydantic, which deepnet already uses, so a
bad field is a 422 naming it; uvicorn drains in-flight requests on SIGTERM).

    POST /predict   {"inputs": [...]}  -> {"labels": [...], "probabilities": [[...]],
                                           "classes": [...]}  ({"values": [...]} for a
                                           regression)
    GET  /health    {"status": "ok"}
    GET  /metadata  the input schema, classes, test metrics and the spec's SHA-256

`inputs` take the forms `deepnet predict` reads, one item per row: a list of numbers
(nested for images and sequences: the raw input of one sample), an object of named
columns (a table), a string (a text run's text, an image run's base64 PNG/JPEG, a sound
run's base64 WAV/FLAC/Ogg).

Requests that arrive together are answered by one forward pass (dynamic micro-batching:
the requests queued while a forward pass runs form the next one, up to `max_batch` rows;
`max_wait_ms` can also hold a lone request for company). The
model is loaded once per worker. Bad input is a 4xx naming the field ("inputs", or the row
and column), never a 500; a body over `max_body` bytes is refused with 413.
"""


import asyncio
import base64
import binascii
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepnet.core.errors import DataError, DeepnetError
from deepnet.runs.files import SPEC
from deepnet.runs.load import load

MAX_BODY = 8 << 20  # bytes
MAX_BATCH = 64  # rows in one forward pass
MAX_WAIT_MS = 0.0  # how long a lone request waits for others (0: the next pass batches)
RUN_ENV = "DEEPNET_SERVE_RUN"  # the run a worker process loads (uvicorn --workers)


def rows_to_inputs(run, items: list) -> Any:
    """The raw inputs of a request's `inputs`, in a form Run.predict takes (an array, or
    a DataFrame of named columns); a DataError naming the row for a bad one."""
    if not isinstance(items, list) or not items:
        raise DataError("inputs: expected a non-empty list with one item per row")
    kinds = {type(i).__name__ for i in items}
    if len(kinds) > 1:
        raise DataError(f"inputs: every row must be of one kind; got {', '.join(sorted(kinds))}")
    import pandas as pd

    first = items[0]
    kind = run.encoding.kind
    if isinstance(first, dict):
        return pd.DataFrame(items)
    if isinstance(first, str):
        if kind == "text":
            return pd.DataFrame({run.encoding.column: items})
        if kind in _FILES:
            return np.stack([_file(run, s, i) for i, s in enumerate(items)])
        raise DataError(f"inputs: this run takes {run.encoding.kind} rows (lists of numbers"
                        f"{' or objects of named columns' if kind == 'table' else ''}); got "
                        "strings")
    try:
        x = np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("inputs: each row must be a list of numbers of the same shape "
                        f"{list(run.input_shape)}") from None
    return x.astype(np.int64) if kind == "text" else x


def _image(run, data: io.BytesIO, where: str) -> np.ndarray:
    from deepnet.data.images import decode

    return decode(data, tuple(run.encoding.size), run.encoding.channels, where)


def _sound(run, data: io.BytesIO, where: str) -> np.ndarray:
    from deepnet.data.audio import decode

    return decode(data, run.encoding, where)


# Runs whose rows are sent as files in base64: (what the file is, its decoder).
_FILES: dict[str, tuple[str, Callable]] = {
    "image": ("an image is sent as its PNG or JPEG file", _image),
    "audio": ("a sound is sent as its WAV, FLAC or Ogg file", _sound),
}


def _file(run, text: str, row: int) -> np.ndarray:
    what, decode = _FILES[run.encoding.kind]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"inputs[{row}]: not base64 ({what} in base64)") from None
    return decode(run, io.BytesIO(data), f"inputs[{row}]")


@dataclass
class Batcher:
    """Gathers the rows of requests that arrive together into one forward pass."""

    run: Any
    max_batch: int = MAX_BATCH
    max_wait: float = MAX_WAIT_MS / 1000
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None

    async def predict(self, x: np.ndarray) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((x, future))
        return await future

    async def loop(self) -> None:
        """Continuous batching: the requests queued while a forward pass runs (in a thread,
        so the server keeps reading requests) form the next batch; `max_wait` > 0 also
        holds a lone request that long for company."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            rows = len(batch[0][0])
            deadline = loop.time() + self.max_wait
            while rows < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    if loop.time() >= deadline:
                        break
                    await asyncio.sleep(min(0.0005, deadline - loop.time()))
                    continue
                batch.append(item)
                rows += len(item[0])
            try:
                outputs = await loop.run_in_executor(
                    None, self.run.predict_outputs, np.concatenate([x for x, _ in batch]))
            except Exception as e:  # noqa: BLE001 - each request gets the error; loop goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            start = 0
            for x, future in batch:
                if not future.done():
                    future.set_result(outputs[start:start + len(x)])
                start += len(x)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is refused with 413, by its
    Content-Length before it is read, or as it streams in (a chunked body)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        size = dict(scope["headers"]).get(b"content-length", b"0")
        if not size.isdigit() or int(size) > self.limit:
            return await self._refuse(send)
        seen, started = 0, False

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": [{"loc": ["body"], "msg": f"the body is over "
                                       f"{self.limit} bytes"}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def answer(run, outputs) -> dict[str, Any]:
    """The JSON of a prediction from the model's outputs."""
    from deepnet.train.metrics import probabilities

    predicted = run.decode(outputs)
    if run.task == "regression":
        return {"values": predicted.tolist()}
    return {"labels": [v.item() if isinstance(v, np.generic) else v for v in predicted],
            "probabilities": np.round(probabilities(outputs).numpy().astype(np.float64),
                                      6).tolist(),
            "classes": list(run.classes)}


def metadata(run) -> dict[str, Any]:
    spec = run.files.file(SPEC)
    return {"task": run.task, "classes": list(run.classes),
            "labels": None if run.meta.labels is None else list(run.meta.labels),
            "threshold": run.meta.threshold,  # labels: class 1 at or above it (binary)
            "input": {"kind": run.encoding.kind, "shape": list(run.input_shape),
                      "columns": [c.name for c in getattr(run.encoding, "columns", [])] or None,
                      "text_column": getattr(run.encoding, "column", None)},
            "test": dict(run.results.test),
            "spec_sha256": hashlib.sha256(spec.read_bytes()).hexdigest() if spec.is_file()
            else None}


def make_app(run, batching: bool = True, max_batch: int = MAX_BATCH,
             max_wait_ms: float = MAX_WAIT_MS, max_body: int = MAX_BODY):
    """The FastAPI application serving `run` (a Run or its directory). `batching=False`
    answers each request with its own forward pass (the benchmark's naive handler)."""
    from contextlib import asynccontextmanager

    try:
        from fastapi import FastAPI
    except ImportError:
        raise DeepnetError("deepnet serve needs fastapi and uvicorn, in deepnet's 'serve' "
                           "extra: pip install -c constraints.txt -e '.[serve]'") from None
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel

    run = load(run)
    batcher = Batcher(run, max_batch, max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app):
        if batching:
            batcher.task = asyncio.create_task(batcher.loop())
        yield
        if batcher.task is not None:
            batcher.task.cancel()

    app = FastAPI(title=f"deepnet: {run.spec.name}", lifespan=lifespan)

    class PredictRequest(BaseModel):
        inputs: list

    def refused(status: int, field: str, message: str) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body", field], "msg": message}]}, status)

    app.add_middleware(BodyLimit, limit=max_body)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metadata")
    async def meta() -> dict[str, Any]:
        return metadata(run)

    @app.post("/predict")
    async def predict(body: PredictRequest):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = run.as_inputs(rows_to_inputs(run, body.inputs), "inputs")
            if batching:
                outputs = await batcher.predict(x)
            else:
                outputs = await run_in_threadpool(run.predict_outputs, x)
        except DeepnetError as e:
            return refused(422, "inputs", str(e))
        return answer(run, outputs)

    return app


def worker_app():
    """The app of a uvicorn worker process: the run named by DEEPNET_SERVE_RUN."""
    return make_app(os.environ[RUN_ENV])


def serve(run, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          say: Callable[[str], None] | None = None) -> None:
    """Serve `run` until SIGTERM or Ctrl-C (uvicorn drains in-flight requests); `say`
    gets a line once the run is loaded and the server starts."""
    import signal

    loaded = load(run)  # refused here, before the server starts, when it is no run
    if loaded.encoding.kind == "series":
        raise DeepnetError(f"{loaded.path}: a forecasting run (data.series) is not served: "
                           "it continues a whole series; use `deepnet predict RUN "
                           "series.csv` or Run.forecast")
    app = make_app(loaded)  # checks the extra is installed; served by one worker
    import uvicorn

    if say is not None:
        say(f"serving {loaded.path} on http://{host}:{port} (Ctrl-C or SIGTERM stops)")

    # uvicorn drains on SIGTERM, then raises the signal again for the handler it found:
    # with this one, the drained server returns and the command exits 0
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    if workers > 1:
        os.environ[RUN_ENV] = str(loaded.path)
        uvicorn.run("deepnet.app.serve:worker_app", factory=True, host=host, port=port,
                    workers=workers, log_level="warning")
        return
    uvicorn.run(app, host=host, port=port, log_level="warning")
