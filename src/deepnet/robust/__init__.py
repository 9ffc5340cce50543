"""Adversarial robustness: attacks (pure functions on a model of raw inputs), their
evaluation on a run, and defenses set up from the spec's `robust` section."""
