"""Adversarial robustness: the evaluation of attacks (deepnet.attacks) on a run, and the
defenses set up from the spec's `robust` section."""
