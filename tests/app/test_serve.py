"""deepnet serve, started as a process on a free port: /predict gives deepnet predict's
labels for the same inputs (rows, named columns, text, base64 images); bad requests are
4xx naming the field and the server keeps serving; SIGTERM stops it cleanly."""

import base64
import csv
import http.client
import io
import json
import os

import numpy as np
import pytest

import deepnet
from deepnet.cli import main
from deepnet.spec import Spec
from serving import Server, request


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    specs = {name: Spec.from_yaml(f"examples/{name}.yaml", ["train.epochs=2"])
             for name in ("breast_cancer", "text_sentiment", "images")}
    return {name: deepnet.train(spec, out=tmp / name, quiet=True, report=False)
            for name, spec in specs.items()}


def _cli_predictions(capsys, run, path) -> list[str]:
    assert main(["predict", str(run.path), str(path)]) == 0
    return [row["class"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))]


def test_predict_matches_deepnet_predict_and_bad_requests_are_4xx(runs, tmp_path, capsys):
    run = runs["breast_cancer"]
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data.iloc[:40]
    frame.to_csv(tmp_path / "rows.csv", index=False)
    expected = _cli_predictions(capsys, run, tmp_path / "rows.csv")
    server = Server(run.path)
    try:
        status, got = server.predict({"inputs": frame.to_numpy().tolist()})
        assert status == 200 and got["classes"] == run.classes
        assert [run.classes[np.argmax(p)] for p in got["probabilities"]] == expected
        assert got["labels"] == run.predict(frame).tolist()  # typed labels: ints
        named = [dict(reversed(list(r.items()))) for r in frame.to_dict("records")]
        assert server.predict({"inputs": named})[1]["labels"] == got["labels"]
        status, meta = request(server.url + "/metadata")
        assert status == 200 and meta["input"]["columns"][0] == "mean radius"
        assert meta["test"] == run.results.test and len(meta["spec_sha256"]) == 64

        nan = json.dumps({"inputs": [[float("nan")] * 30]}).encode()  # Python writes NaN
        bad = {
            "malformed JSON": b'{"inputs": [[1, 2,',
            "missing field": {"rows": [[1.0] * 30]},
            "wrong type": {"inputs": "all of them"},
            "wrong shape": {"inputs": [[1.0] * 7]},
            "strings in a table": {"inputs": ["a", "b"]},
            "missing column": {"inputs": [{"mean radius": 1.0}]},
            "NaN values": nan,
            "empty": {"inputs": []},
        }
        for what, payload in bad.items():
            status, body = server.predict(payload)
            assert 400 <= status < 500, (what, status, body)
            detail = json.dumps(body["detail"])
            assert "inputs" in detail or "body" in detail, (what, body)
            assert "Traceback" not in detail
            assert "mean texture" in json.dumps(server.predict(
            {"inputs": [{"mean radius": 1.0}]})[1])  # the missing column is named
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.putrequest("POST", "/predict")  # 24 MB announced: refused before it is sent
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(24 << 20))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413 and "body" in response.read().decode()
        conn.close()
        assert server.predict({"inputs": frame.to_numpy().tolist()})[1] == got  # still serving
    finally:
        assert server.stop() == 0


def test_text_and_images(runs, tmp_path, capsys):
    text = runs["text_sentiment"]
    rows = ["the film was not good at all", "a wonderful and moving story"]
    import pandas as pd

    pd.DataFrame({"text": rows}).to_csv(tmp_path / "t.csv", index=False)
    expected = _cli_predictions(capsys, text, tmp_path / "t.csv")
    server = Server(text.path)
    try:
        status, got = server.predict({"inputs": rows})
        assert status == 200 and [text.classes[np.argmax(p)] for p in got["probabilities"]] \
            == expected
    finally:
        assert server.stop() == 0

    images = runs["images"]
    folder = "examples/data/digits_png/3"
    files = sorted(os.listdir(folder))[:5]
    (tmp_path / "imgs").mkdir()
    for f in files:
        (tmp_path / "imgs" / f).write_bytes(open(f"{folder}/{f}", "rb").read())
    expected = _cli_predictions(capsys, images, tmp_path / "imgs")
    server = Server(images.path)
    try:
        encoded = [base64.b64encode(open(f"{folder}/{f}", "rb").read()).decode()
                   for f in files]
        status, got = server.predict({"inputs": encoded})
        assert status == 200 and [images.classes[np.argmax(p)] for p in
                                  got["probabilities"]] == expected
        status, body = server.predict({"inputs": ["bm90IGFuIGltYWdl"]})  # "not an image"
        assert status == 422 and "inputs[0]" in json.dumps(body)
    finally:
        assert server.stop() == 0


def test_requests_that_arrive_together_share_a_forward_pass(runs):
    import asyncio

    from deepnet.app.serve import Batcher

    run = deepnet.load(runs["breast_cancer"].path)
    calls = []
    original = run.predict_outputs

    def counted(x):
        calls.append(len(x))
        return original(x)

    run.predict_outputs = counted
    x = np.random.default_rng(0).random((10, 30)) * 10

    async def main_():
        b = Batcher(run, max_batch=64, max_wait=0.05)
        task = asyncio.create_task(b.loop())
        outs = await asyncio.gather(*(b.predict(x[i:i + 1]) for i in range(10)))
        task.cancel()
        return outs

    outs = asyncio.run(main_())
    assert calls == [10]  # one pass for the ten requests
    whole = original(x).numpy()
    assert np.allclose(np.concatenate([o.numpy() for o in outs]), whole, atol=1e-6)


def test_a_streamed_body_over_the_limit_is_refused():
    import asyncio

    from deepnet.app.serve import BodyLimit

    async def app(scope, receive, send):  # reads the whole body, then answers 200
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(chunks):
        messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                    for i, c in enumerate(chunks)]
        sent = []

        async def receive():
            return messages.pop(0)

        async def send(m):
            sent.append(m)

        await BodyLimit(app, limit=100)({"type": "http", "headers": []}, receive, send)
        return sent[0]["status"]

    assert asyncio.run(call([b"x" * 60, b"x" * 30])) == 200
    assert asyncio.run(call([b"x" * 60, b"x" * 60])) == 413  # chunked: no Content-Length
