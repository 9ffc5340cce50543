"""`deepnet train SPEC --auto [--rounds N]`: train, diagnose, apply the top remedy to a copy
of the spec, retrain; up to N rounds; keep the best run by validation metric.

Each round's change is printed as a unified diff of the spec, with the finding that
motivated it. A remedy already applied is not applied again; the loop stops early when a
run has no warning-level finding or no finding has a change left to try.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepnet.core.errors import DeepnetError
from deepnet.diagnose.findings import Finding, apply_changes
from deepnet.train.metrics import HIGHER_IS_BETTER

# Severities whose remedies the loop applies: an info finding (overfitting that early
# stopping already undid by keeping the best epoch) is a note, not a fault to repair, and
# changing a healthy run can only make it worse.
ACT_ON = ("warning", "critical")


@dataclass
class Round:
    number: int
    run: object  # deepnet.Run
    findings: list[Finding]
    metric: str
    score: float  # the validation metric of the kept weights
    applied: Finding | None = None  # the finding whose remedy made the next round's spec
    diff: str = ""  # that change, as a unified diff of the spec

    def to_dict(self) -> dict:
        return {"round": self.number, "run_dir": str(self.run.path),
                f"val_{self.metric}": self.score,
                "findings": [f.kind for f in self.findings],
                "applied": None if self.applied is None else {
                    "kind": self.applied.kind, "changes": self.applied.remedy.changes}}


@dataclass
class AutoResult:
    rounds: list[Round] = field(default_factory=list)

    @property
    def best(self) -> Round:
        """The round with the best validation metric (on a tie, the one with fewer
        warning-level findings); a run without one (NaN: it diverged before its first
        epoch ended) only when no round has one."""
        higher = self.rounds[0].metric in HIGHER_IS_BETTER
        return min(self.rounds, key=lambda r: (
            math.isnan(r.score), -r.score if higher else r.score,
            sum(f.severity in ACT_ON for f in r.findings), r.number))  # a tie: fewer warnings

    def to_dict(self) -> dict:
        return {"rounds": [r.to_dict() for r in self.rounds], "best": self.best.to_dict()}


def validation_score(run) -> tuple[str, float]:
    """(main metric, its validation value at the kept epoch) of a run."""
    metric = run.spec.train.metrics[0]
    epoch = run.results.best_epoch or len(run.history)
    if not run.history:
        return metric, float("nan")
    logs = run.history[min(max(epoch, 1), len(run.history)) - 1]
    value = logs.get(f"val_{metric}")
    return metric, float(value) if value is not None else float("nan")


def spec_diff(old, new, label_old: str, label_new: str) -> str:
    return "\n".join(difflib.unified_diff(old.to_yaml().splitlines(), new.to_yaml().splitlines(),
                                          label_old, label_new, lineterm="", n=1))


def _why(finding: Finding) -> str:
    """The checks that made a finding, `metric value (op threshold)`; else its first
    numbers."""
    evidence = finding.to_dict()["evidence"]
    checks = evidence.get("checks") or []
    return "; ".join(f"{c['metric']} {c['value']:g} ({c['op']} {c['threshold']:g})"
                     for c in checks) or ", ".join(f"{k} {v}" for k, v in
                                                  list(evidence.items())[:4])


def _key(changes: dict) -> str:
    return json.dumps(changes, sort_keys=True, default=str)


def auto_train(spec, rounds: int = 3, out: str | Path | None = None, quiet: bool = False,
               runs_root: str | Path = "runs", log: Callable[[str], None] = print) -> AutoResult:
    """Up to `rounds` runs, each from the previous spec with the top remedy applied."""
    from deepnet.app.train import train
    from deepnet.diagnose import diagnose

    if rounds < 1:
        raise DeepnetError(f"--rounds must be at least 1; got {rounds}")
    result = AutoResult()
    tried: set[str] = set()
    current = spec
    for n in range(1, rounds + 1):
        run = train(current, out=None if out is None else Path(out) / f"round-{n}", quiet=quiet,
                    runs_root=runs_root)
        findings = diagnose(run)
        metric, score = validation_score(run)
        r = Round(n, run, findings, metric, score)
        result.rounds.append(r)
        log(f"round {n}: {run.path}  val_{metric} {score:.4f}  findings: "
            + ", ".join(f"{f.kind} ({f.severity})" for f in findings))
        if n == rounds:
            break
        pick = next((f for f in findings if f.severity in ACT_ON and f.remedy.changes
                     and _key(f.remedy.changes) not in tried), None)
        if pick is None:
            log("nothing left to change: " + (
                "every remedy was tried" if any(f.severity in ACT_ON for f in findings) else
                "no warning-level finding (the run is healthy, or its findings are notes)"))
            break
        tried.add(_key(pick.remedy.changes))
        new = apply_changes(current, pick.remedy.changes)
        r.applied, r.diff = pick, spec_diff(current, new, f"round {n} spec", f"round {n + 1} spec")
        log(f"round {n + 1} applies the remedy for {pick.kind} ({_why(pick)}): {pick.remedy.text}")
        log(r.diff)
        current = new
    best = result.best
    log(f"best: round {best.number}, {best.run.path}  val_{best.metric} {best.score:.4f}")
    return result
