"""The robustness curves figure, drawn from the run's AttackRecords."""

from deepnet.robust.figures import curve_png
from deepnet.runs.records import AttackRecord

PNG = b"\x89PNG\r\n\x1a\n"


def _attack(norm="linf", curve=(), targeted=False) -> AttackRecord:
    return AttackRecord("pgd", "naive", norm, 0.1, targeted, None, 64, 0.9, 0.5, 0.4, 0.08,
                        0.1, 1.5, {}, list(curve))


def test_curve_png_draws_the_attacks_with_a_curve():
    empty = curve_png([_attack()])  # no curve: nothing drawn
    assert empty.startswith(PNG) and empty == curve_png([])
    drawn = curve_png([_attack(curve=[(0.0, 0.9), (0.1, 0.5), (0.2, 0.1)]),
                       _attack("l2", [(0.0, 0.9), (1.0, 0.3)], targeted=True)])
    assert drawn.startswith(PNG) and drawn != empty
