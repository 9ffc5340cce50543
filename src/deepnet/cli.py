"""The `deepnet` command: parses arguments, calls the API, prints. No logic of its own.

Exit codes: 0 success; 2 bad input (a short message on stderr, no traceback); 3 training
diverged; 1 an unexpected internal failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from deepnet.core.errors import DeepnetError
from deepnet.core.version import VERSION

COMMANDS: dict[str, Command] = {}
STARTED = time.perf_counter()  # the process's start, near enough: before any heavy import


@dataclass(frozen=True)
class Command:
    help: str
    add_args: Callable
    run: Callable
    examples: tuple[str, ...]
    json: bool  # takes --json (all but serve)


def command(name: str, help: str, examples: tuple[str, ...], json: bool = True):
    """Register a subcommand: the decorated function adds its arguments; `run` does it.
    Every command takes --quiet, and --json unless `json=False`; `examples` end its --help."""

    def register(add_args: Callable) -> Callable:
        def with_run(run: Callable) -> Callable:
            COMMANDS[name] = Command(help, add_args, run, examples, json)
            return run

        add_args.run = with_run
        return add_args

    return register


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the YAML spec")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec key, e.g. --set train.optimizer.lr=0.01 (repeatable)")


def _load_spec(args):
    from deepnet.spec import Spec

    return Spec.from_yaml(args.spec, args.set)


def _progress(line: str) -> None:
    """Progress of long work, on stderr (stdout keeps the result, and --json its JSON)."""
    print(line, file=sys.stderr, flush=True)


def _print_json(obj) -> None:
    """`--json` output: strict JSON, NaN and infinities as null (deepnet.core.io)."""
    from deepnet.core.io import json_text

    print(json_text(obj))


# ----------------------------------------------------------------------------- summary
@command("summary", "layers, output shapes, parameters, FLOPs and a memory estimate",
         examples=('deepnet summary examples/digits.yaml', 'deepnet summary examples/digits.yaml --max-batch --memory 8GB --json'))
def _summary_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--batch-size", type=int, default=None,
                   help="batch size for the memory estimate (default: train.batch_size)")
    p.add_argument("--max-batch", action="store_true",
                   help="the largest batch whose training-memory estimate fits --memory")
    p.add_argument("--memory", metavar="SIZE",
                   help="memory budget for --max-batch: 8GB, 512MiB, 1.5GiB or bytes "
                        "(kB..TB are powers of 1000, KiB..TiB of 1024)")
    p.add_argument("--tflops", type=float, metavar="T",
                   help="device throughput in TFLOP/s: adds an epoch-time estimate")


@_summary_args.run
def _summary(args) -> int:
    from deepnet.core.units import parse_size
    from deepnet.summary import summary

    if args.batch_size is not None and args.batch_size < 1:
        raise DeepnetError(f"--batch-size must be a positive integer; got {args.batch_size}")
    if args.max_batch != (args.memory is not None):
        raise DeepnetError("--max-batch and --memory go together: --max-batch --memory 8GB "
                           "gives the largest batch whose estimate fits 8 GB")
    if args.tflops is not None and not 0 < args.tflops < float("inf"):
        raise DeepnetError(f"--tflops must be a positive number of TFLOP/s; got {args.tflops}")
    budget = parse_size(args.memory) if args.max_batch else None
    s = summary(_load_spec(args), batch_size=args.batch_size, memory_budget=budget,
                tflops=args.tflops)
    if args.json:
        _print_json(s.to_dict())
    else:
        s.render(Console())
    return 0


# ----------------------------------------------------------------------------- train
@command("train", "train a spec and write a run directory with its report",
         examples=('deepnet train examples/digits.yaml', 'deepnet train examples/digits.yaml --set train.epochs=5 --out runs/try', 'deepnet train --resume runs/try'))
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="the YAML spec (optional with --resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec key, e.g. --set train.optimizer.lr=0.01 (repeatable)")
    p.add_argument("--out", help="the run directory to write (default runs/<name>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN exactly from its checkpoint")
    p.add_argument("--auto", action="store_true", help="train, diagnose, apply the top remedy, "
                   "retrain (up to --rounds runs); keep the best by validation metric")
    p.add_argument("--rounds", type=int, help="with --auto: most runs (default 3)")
    p.add_argument("--lr-find", action="store_true", help="with --auto: a remedy that "
                   "changes the learning rate takes the range test's rate (deepnet lr-find)")
    p.add_argument("--no-report", action="store_true", help="write no report.html (as "
                   "`report: false` in the spec); `deepnet report RUN` writes it later")


@_train_args.run
def _train(args) -> int:
    from deepnet.app.train import train
    from deepnet.runs.files import REPORT, RESULTS, RunDir

    if args.auto:
        return _auto(args)
    if args.rounds is not None or args.lr_find:
        raise DeepnetError("--rounds and --lr-find go with --auto")

    if args.resume is None and args.spec is None:
        raise DeepnetError("train needs a SPEC (or --resume RUN)")
    if args.resume is not None and (args.spec or args.set or args.out):
        raise DeepnetError("--resume RUN continues RUN with its own spec.yaml; drop SPEC, "
                           "--set and --out")
    spec = None if args.resume else _load_spec(args)
    finished = args.resume is not None and RunDir(args.resume).file(RESULTS).is_file()
    run = train(spec, out=args.out, resume=args.resume, quiet=args.quiet,
                report=not args.no_report)
    from deepnet.train.distributed import rank

    if rank() != 0:  # under torchrun only rank 0 reports
        return 0
    r = run.results
    if r.stop_message and (r.stop_reason == "diverged" or not args.quiet):
        print(r.stop_message, file=sys.stderr)
    if args.json:
        total = time.perf_counter() - STARTED
        _print_json({"run_dir": str(run.path), "test": r.test, "epochs": r.epochs,
                     "stop_reason": r.stop_reason, "seconds": r.seconds,
                     "timings": {"startup": round(total - sum(r.timings.values()), 4),
                                 **r.timings}, "total_seconds": round(total, 4)})
    else:
        if finished:
            print(f"{args.resume} had already finished: nothing left to train", file=sys.stderr)
        test = "  ".join(f"{k} {v:.4f}" for k, v in r.test.items())
        print(f"run: {run.path}\ntest: {test}\nepochs: {r.epochs} ({r.stop_reason}), "
              f"{r.seconds:.1f} s")
        if run.path.joinpath(REPORT).is_file():
            print(f"report: {run.path / REPORT}")
    return 3 if r.stop_reason == "diverged" else 0


def _auto(args) -> int:
    from deepnet.app.auto import auto_train

    if args.resume is not None or args.spec is None:
        raise DeepnetError("--auto needs a SPEC and cannot --resume")
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    spec = _load_spec(args)
    if args.no_report:
        spec = spec.model_copy(update={"report": False})
    result = auto_train(spec, 3 if args.rounds is None else args.rounds, out=args.out,
                        quiet=args.quiet, log=log, lr_find=args.lr_find)
    if args.json:
        _print_json(result.to_dict())
    return 0


# ----------------------------------------------------------------------------- diagnose
@command("diagnose", "over/underfitting, instability, vanishing/exploding gradients, dead "
         "units: each with evidence and a remedy",
         examples=('deepnet diagnose runs/try',))
def _diagnose_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")


@_diagnose_args.run
def _diagnose(args) -> int:
    from deepnet.core.shell import format_override
    from deepnet.runs.files import RunDir

    findings = RunDir(args.run).read_diagnosis()  # saved by the report: no torch to load
    if findings is None:
        from deepnet.diagnose import diagnose

        findings = [f.to_dict() for f in diagnose(args.run)]
    if args.json:
        _print_json(findings)
        return 0
    for f in findings:
        print(f"{f['kind']} ({f['severity']}): {f['explanation']}")
        for k, v in f["evidence"].items():
            print(f"    {k}: {json.dumps(v)}")
        print(f"  remedy: {f['remedy']['text']}")
        for k, v in f["remedy"]["changes"].items():
            print(f"    {format_override(k, v)}")
    return 0


# ----------------------------------------------------------------------------- audit
@command("audit", "data quality: label issues, outliers, duplicates and leakage, imbalance, "
         "train/test shift, constant features",
         examples=('deepnet audit examples/digits.yaml --fix clean.npz',))
def _audit_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--fix", metavar="OUT", help="write a cleaned copy of the data to OUT "
                   "(.npz; .csv/.parquet for a table source); the source is never edited")
    p.add_argument("--run", metavar="RUN", help="store the audit in RUN (audit.json) and "
                   "rewrite its report.html with it")


@_audit_args.run
def _audit(args) -> int:
    from deepnet.app.audit import audit_spec

    report, fixed = audit_spec(_load_spec(args), fix=args.fix, run=args.run)
    if args.json:
        _print_json(report.to_json())
    else:
        for name, line in report.summary():
            print(f"{name}: {line}")
        for r in report.label_issues[:10]:
            print(f"  label issue: row {r.row} labelled {r.label!r}, looks like "
                  f"{r.suggested!r}")
        for r in report.leakage[:10]:
            print(f"  leakage: {r.split} row {r.row} is train row {r.train_row}")
    if fixed is not None:
        print(f"cleaned copy: {fixed.path} ({fixed.rows} rows, {fixed.dropped} dropped)",
              file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- evaluate
@command("evaluate", "metrics of a trained run on its test split or on new labelled data",
         examples=('deepnet evaluate runs/try', 'deepnet evaluate runs/try --data new.npz --json'))
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("--data", help="labelled data in the run's format: .npz (x, y), a "
                   "CSV/Parquet table, an image folder or a text CSV")


@_evaluate_args.run
def _evaluate(args) -> int:
    from deepnet.app.train import evaluate_run
    from deepnet.runs.load import load

    metrics = evaluate_run(load(args.run), args.data)
    if args.json:
        _print_json(metrics)
    else:
        for k, v in metrics.items():
            print(f"{k}: {v:.4f}")
    return 0


# ----------------------------------------------------------------------------- predict
@command("predict", "predictions for raw inputs, with the run's saved preprocessing",
         examples=('deepnet predict runs/try examples/data/digits_inputs.npz --out predictions.csv',))
def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("input", help="raw inputs: .npz (x), a CSV/Parquet table, an image folder or a text CSV")
    p.add_argument("--out", help="write the CSV here (default: stdout)")


@_predict_args.run
def _predict(args) -> int:
    from deepnet.app.predict import predict_file
    from deepnet.core.io import write_text_atomic
    from deepnet.core.outputs import writable_file

    if args.out:
        writable_file(args.out, "--out")
    text = predict_file(args.run, args.input)
    if args.out:
        write_text_atomic(args.out, text)
    if args.json:
        _print_json({"out": args.out, "predictions": _records(text)} if args.out is None
                    else {"out": args.out, "rows": text.count("\n") - 1})
    elif not args.out:
        sys.stdout.write(text)
    return 0


def _records(csv_text: str) -> list[dict]:
    """The rows of predict's CSV as JSON objects, numbers as numbers."""
    import csv
    import io

    def value(v: str):
        try:
            return float(v)
        except ValueError:
            return v

    return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(csv_text))]


# ----------------------------------------------------------------------------- export
@command("export", "the run's inference path (preprocessing included) as one verified file",
         examples=('deepnet export runs/try --format onnx',))
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run (or ensemble) directory")
    p.add_argument("--format", default="onnx", help="onnx (default), torchscript or exported")
    p.add_argument("--out", help="the file to write (default: RUN/model.onnx, .pt or .pt2)")


@_export_args.run
def _export(args) -> int:
    from deepnet.app.export import export

    done = export(args.run, args.format, args.out)
    if args.json:
        _print_json(done.to_dict())
    else:
        print(f"wrote {done.path} ({done.format}) and {done.metadata_path}; verified on "
              f"{done.rows} inputs ({done.verified_on}): largest difference "
              f"{done.max_difference:.2g}")
    return 0


# ----------------------------------------------------------------------------- serve
@command("serve", "an HTTP JSON API for a run: POST /predict, GET /health, GET /metadata",
         examples=('deepnet serve runs/try --port 8000',), json=False)
def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run (or ensemble) directory")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")


@_serve_args.run
def _serve(args) -> int:
    from deepnet.app.serve import serve

    if not 0 < args.port < 65536:
        raise DeepnetError(f"--port must be 1..65535; got {args.port}")
    if args.workers < 1:
        raise DeepnetError(f"--workers must be at least 1; got {args.workers}")
    serve(args.run, args.host, args.port, args.workers,
          say=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True))
    return 0


# ----------------------------------------------------------------------------- attack
@command("attack", "adversarial evaluation of a trained run (naive and adaptive attacks)",
         examples=('deepnet attack runs/try --method pgd --eps 0.1', 'deepnet attack runs/try --method autoattack --limit 200 --json'))
def _attack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run (or ensemble) directory")
    p.add_argument("--method", required=True,
                   help="the attack (deepnet.attacks: autoattack, apgd, apgd-t, fab, square, "
                        "pgd, fgsm, cw, deepfool)")
    p.add_argument("--eps", type=float, default=None,
                   help="perturbation budget in raw input units (default: the attack's; "
                        "attacks that find minimal perturbations take it as a cap)")
    p.add_argument("--norm", default=None,
                   help="the norm of the perturbation (default: the attack's)")
    p.add_argument("--steps", type=int, default=None,
                   help="iterations (default: the attack's)")
    p.add_argument("--restarts", type=int, default=None,
                   help="random restarts, for the attacks that take them (default 1)")
    p.add_argument("--loss", default=None,
                   help="the loss the attack raises, for those that take one: ce (default), "
                        "margin, dlr (apgd: APGD-DLR)")
    p.add_argument("--targets", type=int, default=None,
                   help="runner-up classes attacked in turn by apgd-t, fab and autoattack "
                        "(default 9)")
    p.add_argument("--queries", type=int, default=None,
                   help="queries of square and of autoattack's Square part (default 5000)")
    p.add_argument("--targeted", action="store_true", help="aim for a target class")
    p.add_argument("--target", default=None, metavar="T",
                   help="a class (name or number) or a rule that picks one per example "
                        "(default: the next class; implies --targeted)")
    p.add_argument("--seed", type=_seed, default=0,
                   help="seed of random starts and targets (0 to 2**32-1)")
    p.add_argument("--limit", type=int, default=None,
                   help="attack at most this many test examples (default robust.limit, 1000)")


def _seed(text: str) -> int:
    """An argparse type: a seed numpy and torch both take."""
    seed = int(text)  # argparse turns a ValueError into 'invalid _seed value'
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to 2**32-1; got {text}")
    return seed


def _target(run, value: str, rules: tuple[str, ...]):
    """The attack's target that --target names: a rule (`rules`, deepnet.attacks.TARGETS)
    or a class number."""
    if value in rules:
        return value
    if value in run.classes:
        return run.classes.index(value)
    if value.isdigit():
        return int(value)
    raise DeepnetError(f"--target {value!r}: expected a class of this run "
                       f"({', '.join(run.classes[:20])}), a class number, or "
                       f"{', '.join(rules)}")


@_attack_args.run
def _attack(args) -> int:
    from deepnet.app.robust import attack_run
    from deepnet.attacks import TARGETS
    from deepnet.runs.files import REPORT
    from deepnet.runs.load import load

    if args.limit is not None and args.limit < 1:
        raise DeepnetError(f"--limit must be a positive integer; got {args.limit}")
    run = load(args.run)
    options = {"targeted": args.targeted or args.target is not None}
    if args.target is not None:  # else the attack's default
        options["target"] = _target(run, args.target, TARGETS)
    for key in ("norm", "steps", "restarts", "loss", "targets", "queries"):  # only those given: each takes its own
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    results, report = attack_run(run, args.method, args.eps, seed=args.seed,
                                 limit=args.limit, **options)
    first = results[0].to_dict()
    if args.json:
        _print_json({**first, "adaptive": [r.to_dict() for r in results[1:]],
                     "results": str(report)})
        return 0
    for r in results:
        eps = "minimal" if r.eps is None else f"{r.eps:g}"
        print(f"{r.method} ({r.variant}), {r.norm}, eps {eps}"
              + (f", targeted ({r.target})" if r.targeted else "") + f", {r.n} examples:")
        print(f"  clean accuracy {r.clean_accuracy:.4f}  robust accuracy "
              f"{r.robust_accuracy:.4f}  success rate {r.success_rate:.4f}")
        print(f"  perturbation mean {r.mean_perturbation:.4g}  max {r.max_perturbation:.4g}")
    print(f"report: {run.files.file(REPORT)}")
    return 0


# ----------------------------------------------------------------------------- ensemble
@command("ensemble", "combine trained runs into an ensemble that averages probabilities",
         examples=('deepnet ensemble runs/a runs/b --out runs/ab',))
def _ensemble_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (2 or more)")
    p.add_argument("--out", help="the ensemble folder to write (default "
                   "runs/ensemble-<time>)")


@_ensemble_args.run
def _ensemble(args) -> int:
    from deepnet.app.ensemble import make_ensemble

    out = args.out or f"runs/ensemble-{time.strftime('%Y%m%d-%H%M%S')}"
    run = make_ensemble(args.runs, out)
    r = run.results
    if args.json:
        _print_json({"ensemble_dir": str(run.path), "members": r.members, "test": r.test,
                     "warnings": r.warnings})
    else:
        print(f"ensemble: {run.path}\ntest: "
              + "  ".join(f"{k} {v:.4f}" for k, v in r.test.items()))
    return 0


# ----------------------------------------------------------------------------- report
@command("report", "(re)write a run's self-contained report.html",
         examples=('deepnet report runs/try',))
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("--out", help="the HTML file to write (default RUN/report.html)")


@_report_args.run
def _report(args) -> int:
    from deepnet.core.outputs import writable_file
    from deepnet.report.html import write_report
    from deepnet.runs.files import REPORT
    from deepnet.runs.load import load

    run = load(args.run)
    out = writable_file(args.out or run.files.file(REPORT), "--out" if args.out else "RUN")
    path = write_report(run, out=out)
    if args.json:
        _print_json({"report": str(path)})
    else:
        print(path)
    return 0


# ----------------------------------------------------------------------------- tune
@command("tune", "hyperparameter search over the spec's tune.space (Optuna)",
         examples=('deepnet tune examples/digits.yaml --trials 20 --workers 2',))
def _tune_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--trials", type=int, metavar="N",
                   help="finished trials wanted in the study, earlier runs included "
                        "(default: tune.trials)")
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument("--storage", metavar="URL",
                   help="an SQLAlchemy URL (sqlite:///t.db, postgresql://...) or a journal "
                        "file (default: <out>/study.journal)")
    p.add_argument("--study", metavar="NAME", help="the study name (default: the spec's name)")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="worker processes on this machine, sharing the storage")
    p.add_argument("--out", metavar="DIR", help="the tune directory (default tunes/<name>)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


@_tune_args.run
def _tune(args) -> int:
    from deepnet.app.tune import tune

    result = tune(_load_spec(args), trials=args.trials, timeout=args.timeout,
                  storage=args.storage, study=args.study, workers=args.workers, out=args.out,
                  quiet=args.quiet, worker=args.worker)
    if result is None:  # a worker process
        return 0
    if args.json:
        _print_json(result.to_json())
    else:
        _print_tune(result)
    if result.best_value is None:
        print("deepnet tune: no trial completed; see the reasons in "
              f"{result.path / 'trials.csv'}", file=sys.stderr)
        return 1
    return 0


def _print_tune(r) -> None:
    from rich.table import Table

    from deepnet.tune.output import fmt, short

    c = r.trials
    print(f"study {r.study}: {c['complete']} complete, {c['pruned']} pruned, "
          f"{c['failed']} failed (storage {r.storage})")
    if r.best_value is not None:
        print(f"best val_{r.metric}: {r.best_value:.4f} (trial {r.best_trial})")
        for k, v in r.best_params.items():
            print(f"  {k}: {fmt(v)}")
    if r.importances:
        print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in r.importances.items()))
    table = Table(title="trials")
    for col in (r.rows[0] if r.rows else {}):
        table.add_column(short(col), justify="left" if col in ("state", "reason") else "right",
                         overflow="ellipsis", no_wrap=True, max_width=48)
    for row in r.rows:
        table.add_row(*("" if v is None else fmt(v) for v in row.values()))
    Console(width=max(Console().width, 200)).print(table)
    if r.best_spec is not None:
        print(f"best spec: {r.best_spec}  (deepnet train {r.best_spec})")
    print(f"report: {r.report}")


# ----------------------------------------------------------------------------- compare
@command("compare", "runs side by side: spec changes as --set, test metrics, learning curves",
         examples=("deepnet compare runs/a runs/b",
                   "deepnet compare runs/a runs/b runs/c --html compare.html"))
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (2 or more); the "
                   "first is the reference")
    p.add_argument("--html", metavar="FILE", help="also write the comparison, curves "
                   "overlaid, as one self-contained page")


@_compare_args.run
def _compare(args) -> int:
    from deepnet.app.compare import compare, write_html
    from deepnet.core.outputs import writable_file

    if args.html:
        writable_file(args.html, "--html")
    c = compare(args.runs)
    page = write_html(c, args.html) if args.html else None
    if args.json:
        _print_json({**c.to_dict(), "html": str(page) if page else None})
        return 0
    print(f"reference: {c.runs[0]}")
    for run in c.runs[1:]:
        print(f"{run}: {' '.join(c.set_words(run)) or '(the same spec)'}")
    table = Table(title="test metrics")
    table.add_column("metric")
    for run in c.runs:
        table.add_column(run, justify="right")
    for metric, values in c.test.items():
        table.add_row(metric, *("-" if values[r] is None else f"{values[r]:.4f}"
                                for r in c.runs))
    Console().print(table)
    if page:
        print(f"page: {page}")
    return 0


# ----------------------------------------------------------------------------- lr-find
@command("lr-find", "the learning-rate range test: the loss as the rate grows, a suggested "
         "rate and its plot",
         examples=("deepnet lr-find examples/digits.yaml",
                   "deepnet lr-find examples/digits.yaml --steps 300 --out lr.png --json"))
def _lr_find_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--steps", type=int, default=200, help="batches in the sweep (default 200)")
    p.add_argument("--start", type=float, default=1e-7, help="the first rate (default 1e-7)")
    p.add_argument("--end", type=float, default=10.0, help="the last rate (default 10)")
    p.add_argument("--out", help="the plot to write (default runs/<name>-lr-find.png)")


@_lr_find_args.run
def _lr_find(args) -> int:
    from deepnet.app.lr_find import lr_find, plot
    from deepnet.core.outputs import writable_file
    from deepnet.core.shell import format_override

    spec = _load_spec(args)
    out = writable_file(args.out or f"runs/{spec.name}-lr-find.png", "--out")
    result = lr_find(spec, args.steps, args.start, args.end)
    path = plot(result, out)
    if args.json:
        _print_json({**result.to_dict(), "plot": str(path)})
        return 0
    if result.suggested is None:
        raise DeepnetError(f"lr-find: no finite loss from lr {args.start:g} on ({result.stopped})")
    print(f"suggested lr: {result.suggested:.3g} ({result.rule}; minimum at "
          f"{result.minimum:.3g}; {len(result.lrs)} steps, {result.stopped})")
    print(f"to use it: deepnet train {args.spec} "
          f"{format_override('train.optimizer.lr', float(f'{result.suggested:.3g}'))}")
    print(f"plot: {path}")
    return 0


# ----------------------------------------------------------------------------- completion
@command("completion", "a shell completion script, made from these commands' arguments",
         examples=("deepnet completion bash > ~/.local/share/bash-completion/completions/deepnet",
                   "deepnet completion zsh > ~/.zfunc/_deepnet"), json=False)
def _completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell")


@_completion_args.run
def _completion(args) -> int:
    from deepnet.completion import script

    sys.stdout.write(script(parser(), args.shell))
    return 0


# ----------------------------------------------------------------------------- main
RULE = """every command: --quiet: no progress on stderr (warnings and errors still show);
--json: the result as one JSON object on stdout, nothing else there (progress stays on
stderr); --out: where the command writes its main result (a folder for train, tune and
ensemble; a file for predict, export and report), each with a default."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepnet",
        description="Deep neural networks from one YAML spec: build, train, diagnose, tune, "
        "attack.",
        epilog=RULE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"deepnet {VERSION}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, c in COMMANDS.items():
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in c.examples)
        one = sub.add_parser(name, help=c.help, description=c.help, epilog=epilog,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        c.add_args(one)
        if c.json:
            one.add_argument("--json", action="store_true",
                             help="print the result as one JSON object on stdout")
        one.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    from deepnet.core.progress import silenced

    args = parser().parse_args(argv)
    try:
        with silenced(args.quiet):
            return COMMANDS[args.command].run(args)
    except DeepnetError as e:
        print(f"deepnet {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deepnet ... | head`: the reader left; say nothing more
        _quiet_stdout()
        return 141  # as a process killed by SIGPIPE
    except OSError as e:
        if e.filename is None:  # not about a file: a bug
            return _internal(args.command)
        # a file or folder that cannot be used (permissions, a file in the way, a full
        # disk): the commands check their outputs first; this is the last line of defence
        print(f"deepnet {args.command}: error: cannot use {e.filename!r}: {e.strerror}",
              file=sys.stderr)
        return 2
    except Exception:
        return _internal(args.command)


def program() -> int:
    """The `deepnet` program (its console script and `python -m deepnet`): main() in a
    process of its own, whose garbage collector deepnet.core.heap manages."""
    from deepnet.core import heap

    heap.own_process()
    try:
        return main()
    finally:
        heap.leave()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's own flush at exit finds no broken pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (a test's capture)
        pass


def _internal(command: str) -> int:
    traceback.print_exc()
    print(f"deepnet {command}: internal error (exit code 1); please report it with "
          "the traceback above", file=sys.stderr)
    return 1
