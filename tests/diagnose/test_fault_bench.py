"""The planted-fault benchmark's harness (bench/faults): its statistics, its scoring rules
on made-up records (fast), and its quick subset end to end (slow: about 2-3 minutes on 2
cores), whose table and last-line JSON must hold every figure of issue 14."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import types
from pathlib import Path

import pytest
from scipy.stats import ttest_ind

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.faults import report, score  # noqa: E402
from bench.faults.__main__ import audit_part  # noqa: E402
from bench.faults.stats import compare, rate, wilson  # noqa: E402

KINDS = ("diverged", "exploding_gradients", "vanishing_gradients", "unstable_training",
         "dead_units", "underfitting", "overfitting", "healthy")
TRAINING_FIGURES = ("detection", "top1", "false_alarm", "false_alarm_clean",
                    "false_alarm_near_miss", "repair_auto", "repair_random", "no_harm_clean",
                    "detection_overfitting", "detection_underfitting",
                    "lr_high_clipped_called_diverged",
                    "memorisation_overfitting")


# ----------------------------------------------------------------------------- statistics
def test_wilson_interval_matches_the_closed_form():
    assert wilson(0, 5) == pytest.approx((0.0, 1.96**2 / (5 + 1.96**2)), abs=1e-4)  # 0.4345
    lo, hi = wilson(9, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.5958, 0.9821)  # Wilson (1927), z = 1.96
    assert rate(0, 0) == {"k": 0, "n": 0, "rate": None, "ci95": [0.0, 1.0]}


def test_welch_and_cohens_d_agree_with_scipy():
    a, b = [0.90, 0.92, 0.88], [0.97, 0.96, 0.98, 0.97, 0.95]
    c = compare(a, b, greater=False)
    assert c.p == pytest.approx(ttest_ind(a, b, equal_var=False, alternative="less").pvalue)
    pooled = math.sqrt((2 * statistics.variance(a) + 4 * statistics.variance(b)) / 6)
    assert c.d == pytest.approx((statistics.mean(b) - statistics.mean(a)) / pooled)
    assert c.d == pytest.approx(0.066 / math.sqrt((2 * 4e-4 + 4 * 1.3e-4) / 6))
    assert c.significant(0.05, 0.5)
    assert not compare(b, a, greater=False).significant(0.05, 0.5)
    same = compare([0.5, 0.5], [0.5, 0.5], greater=False)  # no spread, no difference
    assert (same.p, same.d) == (1.0, 0.0)


# ----------------------------------------------------------------------------- scoring
def _record(base, case, variant, seed, findings, score_=0.97, **measures) -> dict:
    group = "near_miss" if case in ("sgd_momentum",) else ("clean" if case == "clean" else "plant")
    return {"task": f"{base}/{case}/s{seed}", "base": base, "case": case, "variant": variant,
            "seed": seed, "group": group, "findings": findings, "score": score_,
            "test_accuracy": score_, "nonfinite": False, "diagnose_seconds": 0.1,
            "measures": {"gap": 0.01, "train_acc": 1.0, **measures}}


HEALTHY = [["healthy", "info"]]


def test_scoring_leaves_equivalent_plants_out_and_counts_every_control():
    clean = [_record("mlp_digits", "clean", "clean", s, HEALTHY, 0.97 + 0.01 * (s % 2))
             for s in range(5)]
    clean[0]["findings"] = [["unstable_training", "warning"]]  # one false alarm
    near = [_record("mlp_digits", "sgd_momentum", "plant", s, HEALTHY) for s in range(3)]
    near[1]["findings"] = [["overfitting", "info"]]  # info is no alarm
    mild = [_record("mlp_digits", "mild_lr", "plant", s, HEALTHY, 0.97 + 0.01 * (s % 2))
            for s in range(3)]  # same outcome as clean: equivalent, even though not detected
    short = [_record("mlp_digits", "two_epochs", "plant", s, f, 0.80, train_acc=0.8)
             for s, f in enumerate([[["underfitting", "warning"]], HEALTHY,
                                    [["unstable_training", "warning"], ["underfitting", "warning"]]])]
    noisy = [_record("mlp_digits", "label_noise", "plant", s, HEALTHY, 0.6) for s in range(3)]
    rows, fig = score.score(clean + near + mild + short + noisy, [], KINDS)

    assert fig["plants_equivalent"] == ["mlp_digits/mild_lr"]
    assert fig["plants_unscorable"] == ["mlp_digits/label_noise"]  # no label-noise kind
    assert (fig["detection"]["k"], fig["detection"]["n"]) == (2, 3)  # two_epochs only
    assert (fig["top1"]["k"], fig["top1"]["n"]) == (1, 3)
    assert fig["detection_underfitting"]["n"] == 3
    assert (fig["false_alarm_clean"]["k"], fig["false_alarm_clean"]["n"]) == (1, 5)
    assert (fig["false_alarm_near_miss"]["k"], fig["false_alarm_near_miss"]["n"]) == (0, 3)
    assert (fig["false_alarm"]["k"], fig["false_alarm"]["n"]) == (1, 8)
    mild_row = next(r for r in rows if r["case"] == "mlp_digits/mild_lr")
    assert mild_row["manifests"] == "equivalent" and mild_row["detected"] == "(0/3)"


def test_a_repair_is_strict():
    first = {"findings": [["underfitting", "warning"]]}
    ok = {"best_score": 0.96, "best_findings": HEALTHY}
    assert score.repaired(ok, first, ("underfitting",), reference=0.97)
    assert not score.repaired({**ok, "best_score": 0.94}, first, ("underfitting",), 0.97)
    still = {**ok, "best_findings": [["underfitting", "warning"]]}
    assert not score.repaired(still, first, ("underfitting",), 0.97)
    new = {**ok, "best_findings": [["overfitting", "warning"]]}
    assert not score.repaired(new, first, ("underfitting",), 0.97)
    assert score.repaired({**ok, "best_findings": [["overfitting", "info"]]}, first,
                          ("underfitting",), 0.97)  # info-level is no warning
    clean = {"findings": HEALTHY, "test_accuracy": 0.97}
    assert not score.harmed({"best_round": 1, "best_findings": HEALTHY}, clean)
    assert score.harmed({"best_round": 2, "best_findings": HEALTHY,
                         "best_test_accuracy": 0.95}, clean)


def test_a_random_remedy_is_drawn_by_family_and_builds_on_the_data():
    import random

    from bench.faults.bases import base_spec
    from bench.faults.worker import draw_remedy

    from deepnet.spec import Spec

    spec = Spec.from_dict(base_spec("mlp_digits", 0, {}))
    pool = {"underfitting": [{"model.layers[1].dense.units": 128}],
            "dead_units": [{"model.layers[7].dense.activation": "leaky_relu"},  # no such layer
                           {"model.layers": [{"dense": {"units": 10}}]}],  # dense on (1, 8, 8)
            "diverged": [{"train.optimizer.lr": 0.0003}]}
    drawn: set[str] = set()
    got = [draw_remedy(pool, spec, drawn, random.Random(1)) for _ in range(3)]
    assert sorted(k for k, _ in got if k) == ["diverged", "underfitting"]
    assert got[-1] == (None, None)  # the two that cannot build are put aside, never drawn
    assert len(drawn) == 4


def test_the_audit_part_joins_the_table_and_the_figures(monkeypatch):
    fake = types.ModuleType("bench.faults.audit")
    fake.run_audit_bench = lambda quick: {
        "rows": [{"fault": "symmetric label noise", "precision": 0.9}],
        "figures": {"audit_label_noise_recall": {"k": 88, "n": 100}, "audit_x": 0.5}}
    monkeypatch.setitem(sys.modules, "bench.faults.audit", fake)
    rows, figures = audit_part(quick=True)
    assert rows == [{"section": "audit (data faults)", "fault": "symmetric label noise",
                     "precision": 0.9}]
    out = report.normalise(figures)
    assert out["audit_label_noise_recall"]["rate"] == 0.88
    assert out["audit_x"] == 0.5
    assert "symmetric label noise" in report.render(rows, out)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_quick_benchmark_prints_the_table_and_every_figure():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "bench.faults", "--quick", "--no-audit"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    fig = json.loads(lines[-1])
    assert fig["errors"] == [] and fig["quick"] is True
    for name in TRAINING_FIGURES:
        r = fig[name]
        assert r["n"] > 0, name
        assert r["ci95"][0] <= r["rate"] <= r["ci95"][1], name
    assert isinstance(fig["repair_margin_points"], float)
    assert 0 < fig["diagnose_seconds_mean"] <= fig["diagnose_seconds_max"]
    # the harness probe cannot manifest: reported as equivalent, left out of the rates
    assert "mlp_digits/mild_lr" in fig["plants_equivalent"]
    table = "\n".join(lines[:-1])
    assert any("mlp_digits/mild_lr" in ln and "equivalent" in ln for ln in table.splitlines())
    manifesting_scorable = fig["plants_manifesting"] - len(fig["plants_unscorable"])
    assert fig["detection"]["n"] == 3 * manifesting_scorable  # 3 seeds per plant
    # the clean controls (3 seeds of 2 bases) and near-misses (2 seeds of 3) are all counted
    assert fig["false_alarm_clean"]["n"] == 6
    assert fig["false_alarm_near_miss"]["n"] == 6
    assert fig["false_alarm"]["n"] == 12
    assert fig["no_harm_clean"]["n"] == 6
    # counted over the clipped runs whose loss stayed finite, where "diverged" is wrong
    assert 1 <= fig["lr_high_clipped_called_diverged"]["n"] <= 3
