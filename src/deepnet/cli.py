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
    p.add_argument("--json", action="store_true", help="print one JSON object")


@_summary_args.run
def _summary(args) -> int:
    from deepnet.nn import summary

    if args.batch_size is not None and args.batch_size < 1:
        raise DeepnetError(f"--batch-size must be a positive integer; got {args.batch_size}")
    s = summary(_load_spec(args), batch_size=args.batch_size)
    if args.json:
        _print_json(s.to_dict())
    else:
        s.render(Console())
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
