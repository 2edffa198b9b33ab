import numpy as np
import numpy.typing as npt

class FeatureTable:
    size: int
    ngram: int
    def __init__(self, features: list[str], ngram: int) -> None: ...
    def transform_ids(
        self, texts: list[str], with_rows: bool = False
    ) -> tuple[npt.NDArray[np.int64], ...]: ...
