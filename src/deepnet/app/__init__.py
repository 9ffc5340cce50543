"""The workflows: train a run, evaluate, predict, summary, auto, attack, ensemble, audit
and tune entries. The CLI and `import deepnet` call these; nothing below imports them."""
