"""`deepnet audit SPEC [--fix OUT] [--run RUN]`: the data audit, a cleaned copy of the
data, and the audit stored in a run and its report."""

from __future__ import annotations

from deepnet.core.outputs import writable_folder
from deepnet.diagnose.audit import (
    AuditReport,
    CleanCopy,
    audit,
    check_clean_target,
    save_audit,
    write_clean,
)
from deepnet.report.html import write_report
from deepnet.runs.load import load


def audit_spec(spec, fix: str | None = None, run: str | None = None
               ) -> tuple[AuditReport, CleanCopy | None]:
    """(the audit, the cleaned copy written to `fix` or None). Every argument is checked
    before the audit runs."""
    stored = load(run) if run else None
    if stored is not None:
        writable_folder(stored.path, "--run")
        stored.files.read_audit()  # a damaged audit.json is refused now, not after the audit
    if fix:
        check_clean_target(spec, fix)
    report = audit(spec)
    if stored is not None:
        save_audit(stored.path, report)
        write_report(stored)
    return report, (write_clean(spec, report, fix) if fix else None)
