"""Python's garbage collector in the `deepnet` program's own process.

A command imports torch and, with its first optimizer, torch._dynamo (torch.optim imports
it): about 300,000 objects the cycle collector tracks, which live until the process ends.
The collector walks every one of them in each full pass: the passes that the imports set
off and the one at exit cost about 0.8 s of a one-epoch digits run on 2 cores, more than
its training (bench/turnaround.py). So the program's process (`own_process`, called by
`deepnet.cli.program` before anything else) collects only once a million new objects have
accumulated (Python's default: 700) until those imports are done. `settle` then collects
once, freezes what is left (gc.freeze: never walked again) and restores the default, and
`leave` freezes everything before the process exits.

`settle` is called when a training starts (`settle_for_training`: torch._dynamo imported
first, before the data are read), when a run has been loaded, and before a tune's parent process waits for its
workers. It collects before it freezes: what is frozen is never collected, and the
garbage the imports leave (cycles of frames and tracebacks) reaches every frame on the
stack, whose variables (a trial's model and data, once assigned) it would keep until the
process exits.

A Python caller's process (a notebook, a test) is left alone: `settle` does nothing there.
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
    """The long-lived imports are done and the command's work has not begun: in the
    program's process, collect, freeze what is left and restore the collector's
    thresholds. Once per process; nothing elsewhere."""
    if _state["owned"] and not _state["settled"]:
        _state["settled"] = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(*_state["thresholds"])


def settle_for_training() -> None:
    """`settle`, once torch._dynamo is imported: every optimizer's constructor and step
    imports it (torch.optim marks its methods for torch.compile), and its objects are a
    third of those `settle` freezes. Called before a training makes anything."""
    if _state["owned"] and not _state["settled"]:
        import torch._dynamo  # noqa: F401

        settle()


def leave() -> None:
    """The program's process is about to exit: freeze everything, so that the collections
    at exit walk nothing. Its files are written and closed by then; what is still alive
    goes with the process (cycles among those objects are not finalised)."""
    if _state["owned"]:
        gc.freeze()
