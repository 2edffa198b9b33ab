"""End-to-end latency/throughput of imdb-edge beside its alternatives (issue: one run).

    python benchmarks/latency.py --data ../shared/data/aclImdb_v1.tar.gz [--quick]

Same as ``imdb-edge bench``; see ``imdb_edge/_bench.py``.
"""

import sys

from imdb_edge._bench import main

if __name__ == "__main__":
    sys.exit(main())
