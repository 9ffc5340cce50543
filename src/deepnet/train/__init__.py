"""Training: the loop, callbacks, checkpoints, run directories."""
