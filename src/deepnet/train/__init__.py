"""Training, a closed library: the loop, callbacks, optimizers, schedules, losses, metrics,
checkpoints, data parallelism, and make_trainer. The run around it is deepnet.app.train."""
