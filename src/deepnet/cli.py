"""The `deepnet` command: parses arguments, calls the API, prints. No logic of its own.

Exit codes: 0 success; 2 bad input (a short message on stderr, no traceback); 3 training
diverged; 1 an unexpected internal failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable

from rich.console import Console

from deepnet.core.errors import DeepnetError
from deepnet.core.version import VERSION

COMMANDS: dict[str, tuple[str, Callable, Callable]] = {}


def command(name: str, help: str):
    """Register a subcommand: the decorated function adds its arguments; `run` does it."""

    def register(add_args: Callable) -> Callable:
        def with_run(run: Callable) -> Callable:
            COMMANDS[name] = (help, add_args, run)
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
@command("summary", "layers, output shapes, parameters, FLOPs and a memory estimate")
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
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
@command("train", "train a spec and write a run directory with its report")
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="the YAML spec (optional with --resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec key, e.g. --set train.optimizer.lr=0.01 (repeatable)")
    p.add_argument("--out", help="the run directory to write (default runs/<name>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN exactly from its checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--auto", action="store_true", help="train, diagnose, apply the top remedy, "
                   "retrain (up to --rounds runs); keep the best by validation metric")
    p.add_argument("--rounds", type=int, help="with --auto: most runs (default 3)")


@_train_args.run
def _train(args) -> int:
    from deepnet.app.train import train

    if args.auto:
        return _auto(args)
    if args.rounds is not None:
        raise DeepnetError("--rounds goes with --auto (the most runs it trains)")

    if args.resume is None and args.spec is None:
        raise DeepnetError("train needs a SPEC (or --resume RUN)")
    if args.resume is not None and (args.spec or args.set or args.out):
        raise DeepnetError("--resume RUN continues RUN with its own spec.yaml; drop SPEC, "
                           "--set and --out")
    spec = None if args.resume else _load_spec(args)
    run = train(spec, out=args.out, resume=args.resume, quiet=args.quiet or args.json)
    from deepnet.train.distributed import rank

    if rank() != 0:  # under torchrun only rank 0 reports
        return 0
    r = run.results
    if r.stop_message and (r.stop_reason == "diverged" or not args.quiet):
        print(r.stop_message, file=sys.stderr)
    if args.json:
        _print_json({"run_dir": str(run.path), "test": r.test, "epochs": r.epochs,
                     "stop_reason": r.stop_reason, "seconds": r.seconds})
    else:
        test = "  ".join(f"{k} {v:.4f}" for k, v in r.test.items())
        print(f"run: {run.path}\ntest: {test}\nepochs: {r.epochs} ({r.stop_reason}), "
              f"{r.seconds:.1f} s")
    return 3 if r.stop_reason == "diverged" else 0


def _auto(args) -> int:
    from deepnet.app.auto import auto_train

    if args.resume is not None or args.spec is None:
        raise DeepnetError("--auto needs a SPEC and cannot --resume")
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = auto_train(_load_spec(args), 3 if args.rounds is None else args.rounds, out=args.out,
                        quiet=args.quiet or args.json, log=log)
    if args.json:
        _print_json(result.to_dict())
    return 0


# ----------------------------------------------------------------------------- diagnose
@command("diagnose", "over/underfitting, instability, vanishing/exploding gradients, dead "
         "units: each with evidence and a remedy")
def _diagnose_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("--json", action="store_true", help="print a JSON list of findings")


@_diagnose_args.run
def _diagnose(args) -> int:
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
            print(f"    --set {k}={json.dumps(v)}")
    return 0


# ----------------------------------------------------------------------------- audit
@command("audit", "data quality: label issues, outliers, duplicates and leakage, imbalance, "
         "train/test shift, constant features")
def _audit_args(p: argparse.ArgumentParser) -> None:
    _spec_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
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
@command("evaluate", "metrics of a trained run on its test split or on new labelled data")
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("--data", help="labelled data in the run's format: .npz (x, y), a "
                   "CSV/Parquet table, an image folder or a text CSV")
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
@command("predict", "predictions for raw inputs, with the run's saved preprocessing")
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
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- export
@command("export", "the run's inference path (preprocessing included) as one verified file")
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run (or ensemble) directory")
    p.add_argument("--format", default="onnx", help="onnx (default), torchscript or exported")
    p.add_argument("--out", help="the file to write (default: RUN/model.onnx, .pt or .pt2)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


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
@command("serve", "an HTTP JSON API for a run: POST /predict, GET /health, GET /metadata")
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
          say=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


# ----------------------------------------------------------------------------- attack
@command("attack", "adversarial evaluation of a trained run (naive and adaptive attacks)")
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
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
                                 limit=args.limit, progress=_progress, **options)
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
@command("ensemble", "combine trained runs into an ensemble that averages probabilities")
def _ensemble_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (2 or more)")
    p.add_argument("--out", required=True, help="the ensemble folder to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@_ensemble_args.run
def _ensemble(args) -> int:
    from deepnet.app.ensemble import make_ensemble

    run = make_ensemble(args.runs, args.out, quiet=args.json)
    r = run.results
    if args.json:
        _print_json({"ensemble_dir": str(run.path), "members": r.members, "test": r.test,
                     "warnings": r.warnings})
    else:
        print(f"ensemble: {run.path}\ntest: "
              + "  ".join(f"{k} {v:.4f}" for k, v in r.test.items()))
    return 0


# ----------------------------------------------------------------------------- report
@command("report", "(re)write a run's self-contained report.html")
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")


@_report_args.run
def _report(args) -> int:
    from deepnet.core.outputs import writable_file
    from deepnet.report.html import write_report
    from deepnet.runs.files import REPORT
    from deepnet.runs.load import load

    run = load(args.run)
    writable_file(run.files.file(REPORT), "RUN")
    print(write_report(run))
    return 0


# ----------------------------------------------------------------------------- tune
@command("tune", "hyperparameter search over the spec's tune.space (Optuna)")
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
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
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


# ----------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepnet",
        description="Deep neural networks from one YAML spec: build, train, diagnose, tune, "
        "attack.",
    )
    p.add_argument("--version", action="version", version=f"deepnet {VERSION}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_, add_args, _run) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_, description=help_))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _help, _add, run = COMMANDS[args.command]
    try:
        return run(args)
    except DeepnetError as e:
        print(f"deepnet {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
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


def _internal(command: str) -> int:
    traceback.print_exc()
    print(f"deepnet {command}: internal error (exit code 1); please report it with "
          "the traceback above", file=sys.stderr)
    return 1
