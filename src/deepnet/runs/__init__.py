"""A run directory: its files (files.py: names, atomic writes, verified reads), their
typed records (records.py), `Run` and `load`, ensembles of runs."""
