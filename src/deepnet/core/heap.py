"""Python's garbage collector in the `deepnet` program's own process.

A command imports torch and, with its first optimizer, torch._dynamo (torch.optim imports
it): about 300,000 objects the cycle collector tracks, which live until the process ends.
The collector walks every one of them in each full pass: the passes that the imports set
off and the one at exit cost about 0.8 s of a one-epoch digits run on 2 cores, more than
its training (bench/turnaround.py). So the program's process (`own_process`, called by
`deepnet.cli.program` before anything else) collects only once a million new objects have
accumulated (Python's default: 700) until those imports are done; `settle` then freezes
what exists (gc.freeze: never walked again) and restores the default, and `leave` freezes
everything before the process exits. A command that never settles (predict, attack, ...)
still collects, a million objects at a time.

A Python caller's process (a notebook, a test) is left alone: `settle` does nothing there,
since frozen objects are never collected even once they become garbage.
"""

from __future__ import annotations

import gc

START_THRESHOLD = 1_000_000  # new objects between the collector's passes until `settle`
_state: dict = {"owned": False, "settled": False, "thresholds": None}


def own_process() -> None:
    """The process is the `deepnet` program's: the collector waits for START_THRESHOLD
    new objects until `settle`."""
    _state["owned"], _state["thresholds"] = True, gc.get_threshold()
    gc.set_threshold(START_THRESHOLD, *_state["thresholds"][1:])


def settle() -> None:
    """The long-lived imports are done (a run has its optimizer, a server is about to
    serve): in the program's process, freeze what exists and restore the collector's
    thresholds. Once per process; nothing elsewhere."""
    if _state["owned"] and not _state["settled"]:
        _state["settled"] = True
        gc.freeze()
        gc.set_threshold(*_state["thresholds"])


def leave() -> None:
    """The program's process is about to exit: freeze everything, so that the collections
    at exit walk nothing. Its files are written and closed by then; what is still alive
    goes with the process (cycles among those objects are not finalised)."""
    if _state["owned"]:
        gc.freeze()
