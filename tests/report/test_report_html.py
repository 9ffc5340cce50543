"""report.html in headless Chromium: it loads with no console errors, every image decodes
to a non-zero size, and a screenshot is saved (also to /tmp/deepnet_report.png)."""

import base64
import io
import json
import re
import shutil
import subprocess
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_breast_cancer

import deepnet
from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.diagnose.audit import audit_arrays, save_audit
from deepnet.report import html as report_html
from factory import digits_spec

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
# Written into the page copy that is checked: every image's decoded size and any error.
PROBE_HEAD = ("<script>window.__errors = [];"
              "addEventListener('error', e => __errors.push(String(e.message || "
              "(e.target && e.target.src || '').slice(0, 80))), true);"
              "const __ce = console.error; console.error = (...a) => "
              "{ __errors.push(a.join(' ')); __ce(...a); };</script>")
PROBE_BODY = ("<script>addEventListener('load', () => { document.body.setAttribute("
              "'data-probe', JSON.stringify({errors: __errors, images: [...document.images]"
              ".map(i => [i.naturalWidth, i.naturalHeight, i.complete])})); });</script>")


@pytest.fixture(scope="module")
def run_with_audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    spec = digits_spec([{"dense": {"units": 32, "activation": "relu"}}, {"dense": 10}],
                       epochs=4)
    run = deepnet.train(spec, out=tmp / "run", quiet=True)
    # a quick audit of part of the data (`deepnet audit --run` is tested in test_audit.py)
    prepared = prepare(spec)
    keep = np.arange(400)
    splits = {k: np.flatnonzero(np.isin(keep, v)) for k, v in prepared.splits.items()}
    report = audit_arrays(prepared.dataset.x[keep], prepared.dataset.y[keep],
                          "classification", prepared.dataset.classes, splits)
    save_audit(run.path, report)
    report_html.write_report(run)
    return run


def chromium(args: list[str], profile) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_report_sections_and_self_contained(run_with_audit):
    page = (run_with_audit.path / "report.html").read_text()
    for title in ("Test metrics", "Diagnosis", "Learning curves", "Confusion matrix",
                  "Most confidently wrong", "Gradient norms per layer", "Data audit",
                  "Model summary", "Run", "Spec"):
        assert f"<h2>{title}" in page, title
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from the network
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1  # the wrong digits (Pillow)
    for data in images:
        w, h = Image.open(io.BytesIO(base64.b64decode(data))).size
        assert w > 100 and h > 100
    drawn = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(drawn) == 3  # curves, confusion matrix, gradient norms (core/svg.py)
    for data in drawn:
        svg = ElementTree.fromstring(base64.b64decode(data))  # well-formed XML
        assert svg.tag.endswith("svg") and int(svg.get("width")) > 300
    curves, confusion, norms = (base64.b64decode(d).decode() for d in drawn)
    assert curves.count("<polyline") == 4 and "kept weights" in curves  # train/val x 2
    assert confusion.count("<rect") >= 10 * 10  # a square per (true, predicted) class
    assert norms.count("<polyline") == 2  # the planted MLP's two dense layers
    assert "label issues" in page and "could not be drawn" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package "
                    "`chromium`; .ci/run installs it)")
def test_report_in_headless_chromium(run_with_audit, tmp_path):
    report = run_with_audit.path / "report.html"
    shot = tmp_path / "report.png"
    r = chromium(["--enable-logging=stderr", "--v=0", "--window-size=1200,3600",
                  f"--screenshot={shot}", report.as_uri()], tmp_path / "profile1")
    assert r.returncode == 0, r.stderr[-2000:]
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert shot.stat().st_size > 10_000
    with Image.open(shot) as im:
        assert im.size == (1200, 3600)
    shutil.copy(shot, "/tmp/deepnet_report.png")

    probe = tmp_path / "probe.html"
    page = report.read_text()
    page = page.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>",
                                                                    PROBE_BODY + "</body>", 1)
    probe.write_text(page)
    r = chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                 tmp_path / "profile2")
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert found, r.stdout[:500]
    state = json.loads(found.group(1).replace("&quot;", '"'))
    assert state["errors"] == []
    assert len(state["images"]) == 4  # curves, confusion, the wrong digits, gradient norms
    for width, height, complete in state["images"]:
        assert complete and width > 0 and height > 0


def test_a_failing_section_is_reported_and_the_rest_written(run_with_audit, monkeypatch):
    def broken(src):
        raise RuntimeError("planted")

    monkeypatch.setitem(report_html.SECTIONS, "Predictions", broken)
    with pytest.warns(report_html.ReportWarning, match="planted"):
        path = report_html.write_report(run_with_audit)
    page = path.read_text()
    assert "could not be drawn (RuntimeError: planted)" in page
    assert "<h2>Learning curves" in page and "<h2>Diagnosis" in page


def test_report_command_rewrites(run_with_audit, capsys):
    (run_with_audit.path / "report.html").unlink()
    assert main(["report", str(run_with_audit.path)]) == 0
    assert (run_with_audit.path / "report.html").is_file()


def _section(run, title: str) -> dict:
    found = [s for s in report_html.sections(report_html._Sources(run))
             if s["title"].startswith(title)]
    assert len(found) == 1, [s["title"] for s in report_html.sections(report_html._Sources(run))]
    return found[0]


def test_the_surest_mistakes_of_a_table_classifier_with_their_values(tmp_path):
    spec = deepnet.Spec.from_yaml("examples/breast_cancer.yaml", ["train.epochs=3"])
    run = deepnet.train(spec, out=tmp_path / "run", quiet=True, report=False)
    prepared = prepare(spec)
    test = prepared.splits["test"]
    probs = run.predict_proba(prepared.dataset.x[test])
    y = prepared.dataset.y[test]
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    surest = np.sort(probs[wrong, pred[wrong]])[::-1][:report_html.WRONG]
    section = _section(run, "Most confidently wrong")
    assert f"{len(wrong)} of {len(test)} misclassified" in section["title"]
    header, *rows = section["table"]
    assert header[:3] == ("true -> predicted (probability)", "row", "mean radius")
    shown = [float(r[0].rsplit("(", 1)[1].rstrip(")")) for r in rows]
    assert shown == pytest.approx(surest, abs=0.006)  # the surest first, as printed
    # the surest mistake's row of scikit-learn's table, and its first value as stored there
    k = wrong[np.argmax(probs[wrong, pred[wrong]])]
    assert int(rows[0][1]) == int(prepared.dataset.source_rows()[test[k]])
    raw = load_breast_cancer().data
    assert float(rows[0][2]) == pytest.approx(raw[int(rows[0][1]), 0], rel=1e-3)


def test_augmented_image_samples_are_drawn(tmp_path):
    spec = digits_spec([{"dense": {"units": 16, "activation": "relu"}}, {"dense": 10}],
                       data={"source": "digits", "augment": [{"rotate": 15}, {"crop": 1}]},
                       epochs=1)
    run = deepnet.train(spec, out=tmp_path / "run", quiet=True, report=False)
    section = _section(run, "Augmented training samples")
    assert "rotate, crop" in section["title"]
    w, h = Image.open(io.BytesIO(base64.b64decode(section["image"].split(",", 1)[1]))).size
    assert w > 3 * h  # a row as stored above a row augmented, eight wide
