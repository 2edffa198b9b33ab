import numpy as np
import numpy.typing as npt

class FeatureTable:
    size: int
    ngram: int
    def __init__(self, features: list[str], ngram: int) -> None: ...
    def transform_ids(
        self, texts: list[str], with_rows: bool = False
    ) -> tuple[npt.NDArray[np.int64], ...]: ...
    def score_linear(
        self,
        texts: list[str],
        weights: npt.NDArray[np.int32],
        alpha: npt.NDArray[np.float32],
        bias: float,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]: ...

def first_non_finite(array: npt.NDArray[np.float32]) -> int: ...
def format_rows(columns: list[tuple], n: int) -> bytes: ...
def linear_scores(
    ids: npt.NDArray[np.int32],
    indptr: npt.NDArray[np.int64],
    weights: npt.NDArray[np.int32],
    alpha: npt.NDArray[np.float32],
    bias: float,
) -> npt.NDArray[np.float32]: ...
