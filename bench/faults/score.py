"""From the records of the runs to the benchmark's verdicts: which plants manifest, and the
rates (detection, top-1, false alarms, repairs, no-harm) with their k/n.

The rules here are the issue's, not diagnose's: a plant manifests where over the seeds it
changes the outcome against its reference (the clean base, or the plant's setting alone):
a non-finite loss, a lower validation accuracy (Welch p < ALPHA and Cohen's d >= MIN_D),
or its mechanism measurably present (the same test on the plant's per-run measurement,
worker.measures; dead units also need DEAD_MIN of a layer dead on average).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.faults.plants import CASES, Plant
from bench.faults.stats import compare, rate

ALPHA = 0.05  # the issue: val accuracy lower with p < 0.05 ...
MIN_D = 0.5  # ... and Cohen's d >= 0.5
DEAD_MIN = 0.5  # the example of a mechanism present: half the units dead
REPAIR_POINTS = 0.02  # strict repair: val accuracy within 2 points of the reference
NO_HARM_POINTS = 0.01  # a clean run is made worse when its kept run tests 1+ point lower
WARN = ("warning", "critical")  # a false alarm is a finding at one of these levels
GREATER = {"gap": True, "train_acc": False, "fit": True, "ups": True, "grad_growth": True,
           "vanish": True, "explode": True, "dead": True, "saturated": True}  # the direction a fault moves each


@dataclass
class CaseResult:
    base: str
    plant: Plant
    runs: list[dict]
    refs: list[dict]
    manifests: bool = False
    why: str = ""
    expect: tuple[str, ...] = ()  # the expected kinds that diagnose has
    repairs: dict[str, list[dict]] = field(default_factory=dict)  # loop -> records

    @property
    def name(self) -> str:
        return f"{self.base}/{self.plant.name}"

    @property
    def scorable(self) -> bool:
        return self.manifests and bool(self.expect)


def _kinds(record: dict, levels: tuple[str, ...] | None = None) -> list[str]:
    return [k for k, sev in record.get("findings", record.get("best_findings", []))
            if levels is None or sev in levels]


def manifestation(runs: list[dict], refs: list[dict], mechanism: str | None) -> tuple[bool, str]:
    """(manifests, why) of a plant's runs against its reference runs."""
    bad = sum(r["nonfinite"] for r in runs)
    if bad and not any(r["nonfinite"] for r in refs):
        return True, f"non-finite loss in {bad}/{len(runs)} seeds"
    c = compare([r["score"] for r in runs], [r["score"] for r in refs], greater=False)
    if c.significant(ALPHA, MIN_D):
        return True, f"val acc {c.mean_a:.3f} vs {c.mean_b:.3f} (p={c.p:.2g}, d={c.d:.2g})"
    why = f"val acc {c.mean_a:.3f} vs {c.mean_b:.3f} (p={c.p:.2g})"
    if mechanism is not None:
        m = compare([r["measures"][mechanism] for r in runs],
                    [r["measures"][mechanism] for r in refs], greater=GREATER[mechanism])
        enough = mechanism != "dead" or m.mean_a >= DEAD_MIN
        text = f"{mechanism} {m.mean_a:.3g} vs {m.mean_b:.3g} (p={m.p:.2g}, d={m.d:.2g})"
        if m.significant(ALPHA, MIN_D) and enough:
            return True, text
        why += f"; {text}"
    return False, why


def cases(records: list[dict], known_kinds: tuple[str, ...]) -> list[CaseResult]:
    """Every planted (base, plant) with its runs, reference runs and verdict."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if "error" not in r:
            groups[(r["base"], r["case"], r["variant"])].append(r)
    out = []
    for (base, name, variant), runs in sorted(groups.items()):
        plant = CASES.get(name)
        if variant != "plant" or plant is None or plant.group != "plant":
            continue
        refs = groups[(base, name, "ref")] if plant.setting else groups[(base, "clean", "clean")]
        c = CaseResult(base, plant, runs, refs,
                       expect=tuple(k for k in plant.expect if k in known_kinds))
        c.manifests, c.why = manifestation(runs, refs, plant.mechanism)
        out.append(c)
    return out


def repaired(rep: dict, first: dict, expect: tuple[str, ...], reference: float) -> bool:
    """Strict: the kept run has no expected finding at warning level or above, its val
    accuracy is within REPAIR_POINTS of the reference's mean, and it has no warning that
    the first run did not have."""
    if "error" in rep or not math.isfinite(rep["best_score"]):
        return False
    kept = set(_kinds(rep, WARN))
    return (not kept & set(expect) and rep["best_score"] >= reference - REPAIR_POINTS
            and not kept - set(_kinds(first)))


def harmed(rep: dict, first: dict) -> bool:
    """A clean run made worse by --auto: a different run kept that tests NO_HARM_POINTS
    lower, or shows a warning the first did not."""
    if "error" in rep:
        return True
    if rep["best_round"] == 1:
        return False
    worse = rep["best_test_accuracy"] < first["test_accuracy"] - NO_HARM_POINTS
    return worse or bool(set(_kinds(rep, WARN)) - set(_kinds(first, WARN)))


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return statistics.fmean(xs) if xs else math.nan


def _count(records: list[dict], top: bool = True) -> str:
    """'kind xN, ...' of the first finding (top) or all warning-level ones of each run."""
    c = Counter(r["findings"][0][0] if top else k for r in records
                for k in ([None] if top else _kinds(r, WARN) or ["-"]))
    return ", ".join(f"{k} x{n}" for k, n in c.most_common())


def _kn(k: int, n: int) -> str:
    return f"{k}/{n}" if n else "-"


def score(records: list[dict], repairs: list[dict], known_kinds: tuple[str, ...]
          ) -> tuple[list[dict], dict]:
    """(table rows, figures) of a whole benchmark run."""
    by_task = {r["task"]: r for r in records}
    rep_by = defaultdict(list)
    for rep in repairs:
        rep_by[(rep["base"], rep["case"], rep["variant"], rep["loop"])].append(rep)
    results = cases(records, known_kinds)
    rows, figures = [], {}
    tally = Counter()
    kind_tally: dict[str, Counter] = defaultdict(Counter)
    forbidden: dict[str, Counter] = defaultdict(Counter)
    for c in results:
        c.repairs = {loop: rep_by[(c.base, c.plant.name, "plant", loop)] for loop in ("auto", "random")}
        ref_score = _mean([r["score"] for r in c.refs])
        det = sum(bool(set(_kinds(r)) & set(c.expect)) for r in c.runs)
        top = sum(r["findings"][0][0] in c.expect for r in c.runs)
        fixed = {loop: sum(repaired(rep, by_task[rep["task"].rsplit("/", 1)[0]], c.expect, ref_score)
                           for rep in reps) for loop, reps in c.repairs.items()}
        n = len(c.runs)
        if c.plant.forbid:  # over the runs whose losses stayed finite (the plant's point)
            finite = [r for r in c.runs if not r["nonfinite"]]
            key = f"{c.plant.name}_called_{'_or_'.join(c.plant.forbid)}"
            forbidden[key] += Counter(k=sum(bool(set(_kinds(r)) & set(c.plant.forbid))
                                            for r in finite), n=len(finite))
        if c.scorable:
            tally.update(det=det, top=top, n=n, auto=fixed["auto"], auto_n=len(c.repairs["auto"]),
                         random=fixed["random"], random_n=len(c.repairs["random"]))
            kind_tally[c.expect[0]].update(k=det, n=n)  # by the plant's main kind
        status = ("yes" if c.manifests else "equivalent") + ("" if c.expect or not c.manifests
                                                             else ", no such kind")
        rows.append({"section": "training faults", "case": c.name,
                     "expected": "|".join(c.plant.expect) + (" (not: " + "|".join(c.plant.forbid) + ")"
                                                             if c.plant.forbid else ""),
                     "manifests": status, "evidence": c.why,
                     "detected": _kn(det, n) if c.scorable else f"({det}/{n})",
                     "top-1": _kn(top, n) if c.scorable else f"({top}/{n})",
                     "auto": _kn(fixed["auto"], len(c.repairs["auto"])),
                     "random": _kn(fixed["random"], len(c.repairs["random"])),
                     "first findings": _count(c.runs), "plant": c.plant.note})
    rows += _control_rows(records, rep_by, by_task, figures)
    figures["detection"] = rate(tally["det"], tally["n"])
    figures["top1"] = rate(tally["top"], tally["n"])
    for kind, t in sorted(kind_tally.items()):
        figures[f"detection_{kind}"] = rate(t["k"], t["n"])
    figures["repair_auto"] = rate(tally["auto"], tally["auto_n"])
    figures["repair_random"] = rate(tally["random"], tally["random_n"])
    a, b = figures["repair_auto"]["rate"], figures["repair_random"]["rate"]
    figures["repair_margin_points"] = None if a is None or b is None else round(100 * (a - b), 1)
    for key, t in sorted(forbidden.items()):
        figures[key] = rate(t["k"], t["n"])
    figures |= _memorisation(results, by_task)
    secs = [r["diagnose_seconds"] for r in records if "diagnose_seconds" in r]
    figures["diagnose_seconds_mean"] = round(_mean(secs), 4) if secs else None
    figures["diagnose_seconds_max"] = round(max(secs), 4) if secs else None
    figures["plants"] = len(results)
    figures["plants_manifesting"] = sum(c.manifests for c in results)
    figures["plants_equivalent"] = [c.name for c in results if not c.manifests]
    figures["plants_unscorable"] = [c.name for c in results if c.manifests and not c.expect]
    figures["runs_trained"] = len(records) + sum(max(rep.get("rounds", 1) - 1, 0) for rep in repairs)
    figures["errors"] = [f"{r['task']}: {r['error']}" for r in records + repairs if "error" in r]
    return rows, figures


def _control_rows(records, rep_by, by_task, figures) -> list[dict]:
    """Rows of the clean bases, near-misses and references; the false-alarm and no-harm
    figures (references are shown, not counted: they are the plants' contexts)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if "error" not in r and (r["variant"] != "plant" or r.get("group") == "near_miss"):
            groups[(r["base"], r["case"], r["variant"])].append(r)
    rows = []
    alarms = {"clean": Counter(), "near_miss": Counter()}
    harm = Counter()
    for (base, name, variant), runs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][:2])):
        if any("error" in r for r in runs):
            continue
        kind = "reference" if variant == "ref" else ("clean" if variant == "clean" else "near_miss")
        k = sum(bool(_kinds(r, WARN)) for r in runs)
        if kind in alarms:
            alarms[kind].update(k=k, n=len(runs))
        row = {"section": "controls", "case": f"{base}/{name}" if variant != "ref" else
               f"{base}/ref:{name}", "kind": kind, "false alarms": _kn(k, len(runs)),
               "val acc": f"{_mean([r['score'] for r in runs]):.3f}",
               "warnings": _count(runs, top=False),
               "config": CASES[name].note if name in CASES and variant != "ref" else ""}
        if variant == "clean":
            reps = rep_by[(base, name, variant, "auto")]
            bad = sum(harmed(rep, by_task[rep["task"].rsplit("/", 1)[0]]) for rep in reps)
            changed = sum(rep.get("best_round", 1) != 1 for rep in reps)
            harm.update(ok=len(reps) - bad, n=len(reps), changed=changed)
            row["no harm"] = _kn(len(reps) - bad, len(reps))
        rows.append(row)
    both = alarms["clean"] + alarms["near_miss"]
    figures["false_alarm"] = rate(both["k"], both["n"])
    figures["false_alarm_clean"] = rate(alarms["clean"]["k"], alarms["clean"]["n"])
    figures["false_alarm_near_miss"] = rate(alarms["near_miss"]["k"], alarms["near_miss"]["n"])
    figures["no_harm_clean"] = rate(harm["ok"], harm["n"])
    figures["clean_changed_by_auto"] = rate(harm["changed"], harm["n"])
    return rows


def _memorisation(results: list[CaseResult], by_task: dict) -> dict:
    """The issue's acceptance case: diagnosed as overfitting, and the share of the
    generalisation gap (train - val accuracy at the kept epoch) that --auto's kept run
    closes: with train accuracy as logged (dropout active), and _eval with the kept
    model's train accuracy in eval mode (dropout off)."""
    out = {}
    for c in results:
        if c.plant.name != "memorisation":
            continue
        det = sum("overfitting" in _kinds(r) for r in c.runs)
        out["memorisation_overfitting"] = rate(det, len(c.runs))
        for suffix, first_key, kept_key in (("", None, "best_gap"),
                                            ("_eval", "gap_eval", "best_gap_eval")):
            closed = []
            for rep in c.repairs.get("auto", []):
                rec = by_task[rep["task"].rsplit("/", 1)[0]]
                first = rec.get(first_key, math.nan) if first_key else rec["measures"]["gap"]
                kept = rep.get(kept_key, math.nan)
                if "error" not in rep and first > 0 and math.isfinite(kept):
                    closed.append((first - kept) / first)
            out[f"memorisation_gap_closed{suffix}"] = round(_mean(closed), 3) if closed else None
    return out
