from deepnet.cli import program

raise SystemExit(program())
