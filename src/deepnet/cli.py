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

from deepnet.errors import DeepnetError

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


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


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
    from deepnet.nn import summary
    from deepnet.resources import parse_size

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


@_train_args.run
def _train(args) -> int:
    from deepnet.train.api import train

    if args.resume is None and args.spec is None:
        raise DeepnetError("train needs a SPEC (or --resume RUN)")
    if args.resume is not None and (args.spec or args.set or args.out):
        raise DeepnetError("--resume RUN continues RUN with its own spec.yaml; drop SPEC, "
                           "--set and --out")
    spec = None if args.resume else _load_spec(args)
    run = train(spec, out=args.out, resume=args.resume, quiet=args.quiet or args.json)
    r = run.results
    if r["stop_message"] and (r["stop_reason"] == "diverged" or not args.quiet):
        print(r["stop_message"], file=sys.stderr)
    if args.json:
        _print_json({"run_dir": str(run.path), "test": r["test"], "epochs": r["epochs"],
                     "stop_reason": r["stop_reason"], "seconds": r["seconds"]})
    else:
        test = "  ".join(f"{k} {v:.4f}" for k, v in r["test"].items())
        print(f"run: {run.path}\ntest: {test}\nepochs: {r['epochs']} ({r['stop_reason']}), "
              f"{r['seconds']:.1f} s")
    return 3 if r["stop_reason"] == "diverged" else 0


# ----------------------------------------------------------------------------- evaluate
@command("evaluate", "metrics of a trained run on its test split or on new labelled data")
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")
    p.add_argument("--data", help="labelled data: an .npz with arrays x and y")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@_evaluate_args.run
def _evaluate(args) -> int:
    from deepnet.train.api import evaluate_run
    from deepnet.train.runs import load

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
    p.add_argument("input", help="raw inputs: an .npz with an array x")
    p.add_argument("--out", help="write the CSV here (default: stdout)")


@_predict_args.run
def _predict(args) -> int:
    from deepnet.train.predict import predict_file

    text = predict_file(args.run, args.input)
    if args.out:
        from deepnet.files import write_text_atomic

        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- report
@command("report", "(re)write a run's self-contained report.html")
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the run directory")


@_report_args.run
def _report(args) -> int:
    from deepnet.report.html import write_report
    from deepnet.train.runs import load

    print(write_report(load(args.run)))
    return 0


# ----------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepnet",
        description="Deep neural networks from one YAML spec: build, train, diagnose, tune, "
        "attack.",
    )
    from deepnet import __version__

    p.add_argument("--version", action="version", version=f"deepnet {__version__}")
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
    except Exception:
        traceback.print_exc()
        print(f"deepnet {args.command}: internal error (exit code 1); please report it with "
              "the traceback above", file=sys.stderr)
        return 1
