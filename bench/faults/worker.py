"""What a worker process does with one task: train a case for one seed, diagnose it and
measure it (phase 1), or run a repair loop from a trained case (phase 2: `--auto` as the
app runs it, or the same loop with a random remedy).

A Python plant (plants.Plant.build) is applied to every network the app builds while the
task runs (deepnet.app.train.build_network wrapped), so it stays planted in the retrains of
the repair loops: it stands for a fault in the user's code, which no spec change removes.
Every run goes into the task's own folder under the benchmark's temporary folder.
"""

from __future__ import annotations

import importlib
import math
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml
from bench.faults.bases import base_spec
from bench.faults.plants import CASES, Plant

import deepnet
from deepnet.core.errors import DeepnetError
from deepnet.spec import Spec, apply_changes

REPAIR_RETRAINS = 3  # the budget: --auto within 3 retrains (4 runs with the first)
CLEAN = "clean"


@dataclass(frozen=True)
class Task:
    """One unit of work. `variant`: clean (the base), ref (the plant's setting alone:
    what the plant is compared with) or plant. `loop`: None (phase 1: train and measure),
    auto or random (phase 2, from the phase-1 run in `run_dir`)."""

    base: str
    case: str  # a plant or near-miss name, or "clean"
    variant: str
    seed: int
    files: dict
    root: str
    loop: str | None = None
    run_dir: str | None = None
    pool: dict = field(default_factory=dict)  # random loop: {kind: [changes, ...]}
    quick: bool = False  # the --quick subset: the plant's quick_changes apply

    @property
    def name(self) -> str:
        tag = {"clean": "clean", "ref": f"ref:{self.case}", "plant": self.case}[self.variant]
        return f"{self.base}/{tag}/s{self.seed}" + (f"/{self.loop}" if self.loop else "")


def init_worker() -> None:
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # --workers 1: torch already started its pool in this process
        pass


def case_spec(t: Task) -> dict:
    """The spec dict of a task: base, then the plant's setting, then its fault."""
    spec = base_spec(t.base, t.seed, t.files)
    if t.variant == "clean":
        return spec
    plant = CASES[t.case]
    if plant.setting is not None:
        spec = apply_changes(spec, plant.setting(spec, t.files), Spec)
    if t.variant == "ref":
        return spec
    spec = apply_changes(spec, plant.fault(spec, t.files), Spec)
    if t.quick and plant.quick_changes:
        spec = apply_changes(spec, plant.quick_changes, Spec)
    return spec


def plant_of(t: Task) -> Plant | None:
    return CASES[t.case] if t.variant == "plant" else None


@contextmanager
def planted(plant: Plant | None, cache: dict, runs_root: Path) -> Iterator:
    """deepnet.app.train.train replaced (for auto_train too) by one that trains each spec
    once into `runs_root` (no report.html: it is not measured) and builds every network
    with the plant's Python fault; the cache maps spec YAML to its Run."""
    app = importlib.import_module("deepnet.app.train")  # the module, whatever the package exports

    real_train, real_build = app.train, app.build_network

    def build(*args, **kwargs):
        model, rows = real_build(*args, **kwargs)
        plant.build(model)
        return model, rows

    def train(spec, **_):  # out, runs_root, quiet, report: the cache decides
        spec = Spec.coerce(spec)
        key = spec.to_yaml()
        if key not in cache:
            cache[key] = real_train(spec, runs_root=runs_root, quiet=True, report=False)
        return cache[key]

    app.train = train
    if plant is not None and plant.build is not None:
        app.build_network = build
    try:
        yield train
    finally:
        app.train, app.build_network = real_train, real_build


# ----------------------------------------------------------------------------- measures
def _series(history: list[dict], key: str) -> np.ndarray:
    return np.asarray([float(h[key]) if isinstance(h.get(key), int | float) else math.nan
                       for h in history], dtype=np.float64)


def _weight_norms(run) -> np.ndarray:
    """(epochs, weight tensors) of the logged gradient norms, in forward order."""
    names = [n for n, p in run.model.named_parameters() if p.dim() >= 2]
    rows = [[float((h.get("grad_norms") or {}).get(n, math.nan)) for n in names]
            for h in run.history]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


def _log_ratio(a: float, b: float) -> float:
    return math.log10(a / b) if a > 0 and b > 0 and math.isfinite(a / b) else math.nan


def _dead(run, val_x) -> float:
    """The largest share of ReLU units (or channels) that output 0 for every val row."""
    from deepnet.diagnose.gradients import dead_fractions

    if val_x is None:
        return math.nan
    fractions = [d / n for _, d, n in dead_fractions(run.model, val_x) if n]
    return max(fractions, default=0.0)


SATURATED = 0.99  # a tanh output beyond +-0.99 (|input| > 2.6), a sigmoid's beyond 0.01/0.99


def _saturated(run, val_x) -> float:
    """The largest share, over the tanh and sigmoid layers, of outputs (val rows x units)
    in the flat tails of the activation, where its slope is under 2% of its peak."""
    if val_x is None:
        return math.nan
    shares: list[float] = []

    def hook(module, inp, out):
        y = out.abs() if isinstance(module, torch.nn.Tanh) else (2 * out - 1).abs()
        shares.append(float((y > SATURATED).float().mean()))

    hooks = [m.register_forward_hook(hook) for m in run.model.modules()
             if isinstance(m, torch.nn.Tanh | torch.nn.Sigmoid)]
    if not hooks:
        return 0.0
    try:
        with torch.no_grad():
            run.model.eval()(torch.as_tensor(val_x[:512]))
    finally:
        for h in hooks:
            h.remove()
    return max(shares, default=0.0)


def measures(run, val_x) -> dict[str, float]:
    """Per-run measurements of the faults' mechanisms, independent of diagnose's rules:
    gap: train accuracy minus val accuracy at the kept epoch (see _gap); train_acc: final
    train accuracy; fit:
    -log10 of the final train loss (memorisation drives it towards 0); ups: share of epochs
    whose train loss rose; grad_growth: log10 of the largest total gradient norm over the
    first epoch's; vanish / explode: log10 of the last weight layer's median gradient norm
    over the first's (and its inverse); dead: see _dead; saturated: see _saturated."""
    h = run.history
    tr_acc, loss = _series(h, "train_accuracy"), _series(h, "train_loss")
    norms = _weight_norms(run)
    total = np.sqrt(np.nansum(norms**2, axis=1)) if norms.size else np.zeros(0)
    med = np.nanmedian(norms, axis=0) if norms.size else np.zeros(0)
    first, last = (float(med[0]), float(med[-1])) if len(med) >= 2 else (math.nan, math.nan)
    out = {
        "gap": _gap(run),
        "train_acc": float(tr_acc[-1]) if len(h) else math.nan,
        "fit": -math.log10(loss[-1]) if len(loss) and loss[-1] > 0 else math.nan,
        "ups": float(np.mean(np.diff(loss) > 0)) if len(loss) > 1 else 0.0,
        "grad_growth": _log_ratio(float(np.nanmax(total)), float(total[0])) if len(total) else
        math.nan,
        "vanish": _log_ratio(last, first),
        "explode": _log_ratio(first, last),
        "dead": _dead(run, val_x),
        "saturated": _saturated(run, val_x),
    }
    return {k: (round(v, 5) if math.isfinite(v) else v) for k, v in out.items()}


def _kept(run) -> int:
    """The index in the history of the epoch whose weights the run kept."""
    return min(max(run.results.best_epoch or len(run.history), 1), len(run.history)) - 1


def _gap(run) -> float:
    """The generalisation gap of the weights the run kept: train accuracy minus val
    accuracy at the kept epoch, as logged (train accuracy over the epoch's batches, with
    dropout active, as the learning curves show it)."""
    tr, va = _series(run.history, "train_accuracy"), _series(run.history, "val_accuracy")
    return float(tr[_kept(run)] - va[_kept(run)]) if len(tr) else math.nan


def _gap_eval(run) -> float:
    """The same gap with the kept model's accuracy on its training rows in eval mode
    (dropout off): how much better it does on rows it was trained on."""
    from deepnet.data.prepare import prepare
    from deepnet.train.metrics import predicted_classes

    if not run.history:
        return math.nan
    prepared = prepare(run.spec)
    idx = prepared.splits["train"]
    pred = predicted_classes(run.predict_outputs(prepared.dataset.x[idx])).numpy()
    train_acc = float(np.mean(pred == prepared.targets(prepared.dataset.y[idx])))
    return train_acc - float(_series(run.history, "val_accuracy")[_kept(run)])


def _score(run) -> float:
    from deepnet.app.auto import validation_score

    return validation_score(run)[1]


def _findings(findings) -> list[list[str]]:
    return [[f.kind, f.severity] for f in findings]


def _test_accuracy(run) -> float:
    return float(run.results.test.get("accuracy", math.nan))


# ----------------------------------------------------------------------------- phase 1
def train_case(t: Task) -> dict:
    """Train the task's spec, diagnose the loaded run (timed), measure it."""
    from deepnet.diagnose import diagnose, val_batch

    started = time.perf_counter()
    root = Path(t.root) / t.name.replace("/", "_")
    with planted(plant_of(t), {}, root) as train:
        run = train(case_spec(t))
    run = deepnet.load(run.path)  # as `deepnet diagnose RUN` reads it
    case = CASES.get(t.case)
    if case is not None and case.history is not None:
        case.history(run.history)  # the logged curves as the plant has them
    tick = time.perf_counter()
    findings = diagnose(run)
    diag_seconds = time.perf_counter() - tick
    losses = np.concatenate([_series(run.history, "train_loss"), _series(run.history, "val_loss")])
    return {
        "task": t.name, "base": t.base, "case": t.case, "variant": t.variant, "seed": t.seed,
        "group": case.group if case is not None else "clean", "run_dir": str(run.path),
        "findings": _findings(findings),
        "remedies": [[f.kind, f.to_dict()["remedy"]["changes"]] for f in findings],
        "diagnose_seconds": round(diag_seconds, 4),
        "score": _score(run), "test_accuracy": _test_accuracy(run),
        "nonfinite": bool(run.results.stop_reason == "diverged" or not np.isfinite(losses).all()),
        "stop_reason": run.results.stop_reason, "epochs": len(run.history),
        "measures": measures(run, val_batch(run)),
        "gap_eval": _gap_eval(run) if t.case == "memorisation" else math.nan,
        "seconds": round(time.perf_counter() - started, 2),
    }


# ----------------------------------------------------------------------------- phase 2
def _usable(spec, changes) -> bool:
    """Whether `changes` make a spec that validates and builds on its data."""
    from deepnet.app.train import check_against_data
    from deepnet.data.prepare import prepare
    from deepnet.diagnose import apply_changes as apply_to_spec

    try:
        new = apply_to_spec(spec, changes)
        check_against_data(new, prepare(new))
    except (DeepnetError, ValueError):
        return False
    return True


def draw_remedy(pool: dict, spec, drawn: set[str], rng: random.Random):
    """(family, changes) of a random remedy for `spec`: a family (the finding kind that
    proposed it) drawn uniformly among those with a change not drawn before, then one of
    its changes uniformly; a change that does not build on the data is put aside and the
    draw repeated. (None, None) when nothing is left."""
    from deepnet.app.auto import _key

    left = {kind: [c for c in cands if _key(c) not in drawn] for kind, cands in pool.items()}
    while any(left.values()):
        kind = rng.choice(sorted(k for k, v in left.items() if v))
        changes = left[kind].pop(rng.randrange(len(left[kind])))
        drawn.add(_key(changes))
        if _usable(spec, changes):
            return kind, changes
    return None, None


@contextmanager
def random_remedies(pool: dict, rng: random.Random, families: list[str], cache: dict
                    ) -> Iterator:
    """deepnet.diagnose.diagnose (as auto_train calls it) with every remedy that has changes
    replaced by one random remedy (families drawn go to `families`): the kinds, severities
    and evidence stay, so auto_train's choice of a finding, its stopping rule, budget and
    choice of the best run stay those of `--auto`; only the remedy is left to chance. A
    remedy is drawn for the spec the run was trained from (`cache`, planted's: YAML ->
    run), the one auto_train applies it to, not the run's resolved spec."""
    from deepnet.diagnose.findings import Remedy

    dg = importlib.import_module("deepnet.diagnose")  # the module: deepnet.diagnose is the function
    real, drawn = dg.diagnose, set()

    def diagnose(run):
        findings = real(run)
        if not any(f.remedy.changes for f in findings):
            return findings
        source = next(text for text, r in cache.items() if r is run)
        kind, changes = draw_remedy(pool, Spec.from_dict(yaml.safe_load(source)), drawn, rng)
        if changes is not None:
            families.append(kind)
        remedy = Remedy(changes or {}, f"a random remedy (of {kind})")
        return [replace(f, remedy=remedy) if f.remedy.changes else f for f in findings]

    dg.diagnose = diagnose
    try:
        yield
    finally:
        dg.diagnose = real


def repair_case(t: Task) -> dict:
    """One repair loop from the phase-1 run of the task, the app's auto_train with its own
    remedies (auto) or random ones (random); what the kept (best) run shows."""
    from deepnet.app.auto import auto_train

    root = Path(t.root) / t.name.replace("/", "_")
    spec = Spec.coerce(case_spec(t))
    cache = {spec.to_yaml(): deepnet.load(t.run_dir)}
    started = time.perf_counter()
    families: list[str] = []
    with planted(plant_of(t), cache, root), ExitStack() as stack:
        if t.loop == "random":
            rng = random.Random(f"remedy {t.name}")  # seeded by the task: repeatable
            stack.enter_context(random_remedies(t.pool, rng, families, cache))
        result = auto_train(spec, rounds=1 + REPAIR_RETRAINS, runs_root=root, quiet=True,
                            log=lambda _: None)
    applied = [r.applied.kind for r in result.rounds if r.applied is not None]
    best = result.best
    return {
        "task": t.name, "base": t.base, "case": t.case, "variant": t.variant, "seed": t.seed,
        "loop": t.loop, "rounds": len(result.rounds), "best_round": best.number,
        "best_score": best.score, "best_test_accuracy": _test_accuracy(best.run),
        "best_findings": _findings(best.findings), "best_gap": _gap(best.run),
        "best_gap_eval": _gap_eval(best.run) if t.case == "memorisation" else math.nan,
        "applied": families if t.loop == "random" else applied,
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_task(t: Task) -> dict:
    """Phase 1 or 2; an unexpected error becomes the record's `error` (the run goes on)."""
    try:
        return train_case(t) if t.loop is None else repair_case(t)
    except Exception as e:  # noqa: BLE001 - one broken case must not lose the benchmark
        return {"task": t.name, "base": t.base, "case": t.case, "variant": t.variant,
                "seed": t.seed, "loop": t.loop, "error": f"{type(e).__name__}: {e}"}
