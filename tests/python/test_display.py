"""Notebook display: Run, Spec, Summary, findings, the audit and attack results have a
readable `_repr_html_` (well-formed, escaped, with their figures) and a short repr."""

from html.parser import HTMLParser

import pytest

import deepnet

VOID = {"br", "hr", "img", "input", "meta", "link", "line"}


class _Balance(HTMLParser):
    """Checks that every tag is closed in order, and collects the text."""

    def __init__(self):
        super().__init__()
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def shown(obj) -> str:
    """The text a notebook shows for `obj`'s HTML, after checking it is well-formed."""
    page = obj._repr_html_()
    assert isinstance(page, str) and page.startswith("<") and "<script" not in page
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], parser.stack
    return " ".join(" ".join(parser.text).split())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    spec = {"name": "shown<&>", "data": "breast_cancer", "model": {"layers": [
        {"dense": {"units": 8, "activation": "relu"}}, {"dense": 2}]},
        "train": {"epochs": 4}}
    return deepnet.train(spec, out=tmp_path_factory.mktemp("d") / "r", quiet=True,
                         report=False)


def test_run_shows_its_results_and_learning_curve(run):
    text = shown(run)
    assert "deepnet run shown<&>" in text  # escaped in the HTML, the name in the text
    assert "<svg" in run._repr_html_() and "polyline" in run._repr_html_()
    assert f"{run.results.test['accuracy']:.4g}" in text
    assert "kept epoch" in text and "loss by epoch" in text
    r = repr(run)
    assert r.startswith("Run(") and "2 classes" in r and "4 epochs" in r and "\n" not in r


def test_spec_and_summary(run):
    text = shown(run.spec)
    assert "name: shown<&>" in text and "epochs: 4" in text
    s = deepnet.summary(run.spec)
    text = shown(s)
    assert "layers[0] dense (8,) 248" in text and "training memory at batch 64" in text
    assert repr(s).startswith("Summary(2 layers, 266 parameters, 512 FLOPs per sample, "
                              "training memory ")


def test_findings_audit_and_attack(run):
    findings = deepnet.diagnose(run)
    text = shown(findings)
    assert findings[0].kind in text and findings[0].remedy.text.split()[0] in text
    assert shown(findings[0]).startswith("kind severity")
    audit = deepnet.audit(run.spec)
    text = shown(audit)
    assert f"label issues {len(audit.label_issues)}" in text and "classes" in text
    assert repr(audit).startswith("AuditReport(") and "label issues" in repr(audit)
    result = deepnet.attack(run, "fgsm", eps=0.1, limit=50)
    text = shown(result)
    assert f"robust accuracy {result.robust_accuracy:.4g}" in text
    assert repr(result) == (f"AttackResult(fgsm, naive, linf eps 0.1: accuracy "
                            f"{result.clean_accuracy:.4g} -> {result.robust_accuracy:.4g} on "
                            f"{result.n} examples)")


def test_plain_reprs_are_one_short_line(run):
    assert repr(run.spec) == "Spec('shown<&>', data breast_cancer, 2 layers, 4 epochs, seed 0)"
    findings = deepnet.diagnose(run)
    assert repr(findings) == "Findings([" + ", ".join(
        f"{f.kind} ({f.severity})" for f in findings) + "])"
