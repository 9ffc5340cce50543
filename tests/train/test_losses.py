"""The loss registry's facts: which losses are a softmax over one logit per class
(the distillation defense and ensembles rely on it)."""

from deepnet.train.losses import LOSSES, default_loss


def test_softmax_losses_are_multi_output_classification_losses():
    softmax = [name for name, loss in LOSSES.items() if loss.softmax]
    assert softmax == ["cross_entropy"]
    for name in softmax:
        assert LOSSES[name].task == "classification" and not LOSSES[name].one_output
    assert LOSSES[default_loss("classification", 10)].softmax
    assert not LOSSES[default_loss("classification", 1)].softmax
