"""End-to-end latency/throughput of imdb-edge beside every alternative, in one run.

    python benchmarks/latency.py --data ../shared/data/aclImdb_v1.tar.gz [--quick]

``imdb-edge bench`` plus the TensorFlow-based peers (Keras, LiteRT) of ``tf_peers.py``; see
``imdb_edge/bench/`` for the options.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imdb_edge.bench import main  # noqa: E402
from tf_peers import PEERS  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(extra_peers=PEERS))
