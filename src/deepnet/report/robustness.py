"""The report's robustness sections, from the run's `robustness/` records and figures."""

from __future__ import annotations

from deepnet.core.figures import data_uri
from deepnet.runs.files import CURVE_FIGURE, EXAMPLES_FIGURE, RunDir
from deepnet.runs.records import AttackRecord, Robustness


def report_sections(run, record: Robustness | None) -> list[dict]:
    """The report's robustness sections from the run's robustness `record` ([] when
    never attacked): a table of every attack (naive and adaptive side by side), the
    accuracy-vs-eps curves and the grid of examples."""
    if record is None:
        return []

    def fmt(v):
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    table = [("attack (variant)", "budget", "norm, eps", "clean acc", "robust acc",
              "success", "mean / max perturbation")]
    for a in record.attacks:
        name = a.method + (f" targeted ({a.target})" if a.targeted else "")
        table.append((f"{name} ({a.variant})", _budget(a), f"{a.norm}, {fmt(a.eps)}",
                      fmt(a.clean_accuracy), fmt(a.robust_accuracy), fmt(a.success_rate),
                      f"{fmt(a.mean_perturbation)} / {fmt(a.max_perturbation)}"))
    sections = [{"title": "Robustness: attacks", "header": True, "table": table,
                 "text": "Attacks on the test split in raw input units (eps), through the "
                         "saved preprocessing. Robust accuracy: the share still classified "
                         "correctly; success: of the examples the model got right (targeted: "
                         "all whose target differs from the label), the share the attack "
                         "fooled."}]
    notes, why = _honesty_notes(run, record.attacks)
    if notes:
        sections.append({"title": "Robustness: naive and adaptive attacks", "text": why,
                         "table": notes})
    files = RunDir(run.path)
    for name, title in ((CURVE_FIGURE, "Robustness: accuracy vs eps"),
                        (EXAMPLES_FIGURE, "Robustness: adversarial examples")):
        png = files.read_figure(name)
        if png is not None:
            sections.append({"title": title, "image": data_uri(png)})
    return sections


# The naive figure this far (robust accuracy) above the strongest adaptive one at the same
# eps: the defense's robustness comes from hiding gradients, not from the model.
OBFUSCATED = 0.05


def _budget(r: AttackRecord) -> str:
    """'100 steps, 5 restarts' (AutoAttack: '100 steps, 9 targets, 5000 queries') from an
    attack's recorded options."""
    o = r.options
    parts = [f"{o['steps']} steps"] if o.get("steps") else [] if o.get("queries") else \
        ["one step"]
    if o.get("restarts", 1) > 1:
        parts.append(f"{o['restarts']} restarts")
    parts += [f"{o[k]} {k}" for k in ("targets", "queries") if o.get(k)]
    if o.get("loss") and o["loss"] != "ce":
        parts.append(f"{o['loss']} loss")
    return ", ".join(parts)


def _honesty_notes(run, rows: list[AttackRecord]) -> tuple[list[tuple[str, str]], str]:
    d = run.spec.robust.defense if run.spec.robust is not None else None
    if d is None or (d.distillation is None and d.input_transform is None):
        return [], ""
    out = []
    naive = [r for r in rows if r.variant == "naive"]
    adaptive = [r for r in rows if r.variant != "naive"]
    for r in naive:
        out.append((f"naive {r.method} {r.norm} eps {r.eps} ({_budget(r)})",
                    f"robust accuracy {r.robust_accuracy:.4f}, success {r.success_rate:.4f}"))
        strongest = min((a for a in adaptive if (a.norm, a.eps) == (r.norm, r.eps)),
                        key=lambda a: a.robust_accuracy, default=None)
        if strongest is not None:
            gap = r.robust_accuracy - strongest.robust_accuracy
            out.append((f"gap at {r.norm} eps {r.eps}", f"{100 * gap:.1f} points below the "
                        f"naive figure ({strongest.variant})" + (
                            ": obfuscated gradients" if gap >= OBFUSCATED else "")))
    for r in adaptive:
        eps = "unbounded (minimal perturbation)" if r.eps is None else f"eps {r.eps}"
        out.append((f"adaptive: {r.variant} ({r.norm}, {eps}; {_budget(r)})",
                    f"robust accuracy {r.robust_accuracy:.4f}, success "
                    f"{r.success_rate:.4f}, mean perturbation {r.mean_perturbation:.4g}"))
    why = []
    if d.distillation is not None:
        why.append("defensive distillation saturates the softmax, so cross-entropy "
                   "gradients vanish; attacks on the logits are unaffected")
    if d.input_transform is not None:
        why.append("the input transformation has zero or sparse gradients; BPDA passes "
                   "them straight through")
    why = ("This run's defense obfuscates gradients: " + "; ".join(why) + ". The naive "
           "figures overstate its robustness; the adaptive ones are the ones to trust.")
    return out, why
