"""Score a dataset on Dask: the documented import path of :mod:`imdb_edge.engines.dataset`.

    from imdb_edge.dataset import score_dataset
"""

from .engines.dataset import (  # noqa: F401 - re-exported
    SlowWorkersWarning, local_cluster, read_dataset, score_dataset, slow_allocator_note)

__all__ = ["score_dataset", "read_dataset", "local_cluster", "slow_allocator_note",
           "SlowWorkersWarning"]
