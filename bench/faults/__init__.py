"""The planted-fault benchmark of deepnet.diagnose, train --auto and audit: `python -m bench.faults
[--quick]` (`make bench-faults`). See __main__.py."""
