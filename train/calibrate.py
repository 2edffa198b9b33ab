"""Calibration of a trained model: Platt scaling of its logit, folded into the last layer.

A network trained for a few epochs on a user's data is rarely calibrated: the book's network
overfits into over-confidence, the NB-scaled linear model is squeezed towards 0.5, and class
weights shift every probability towards the smaller class. One temperature fixes the first
two; the shift needs a bias too. So: ``p = sigmoid(a * z + b)``, ``z`` the model's logit,
``a`` (1 / temperature) and ``b`` fitted by maximum likelihood on the validation split's
predictions of the model that never saw it, with Platt's smoothed targets (so a validation
split the model separates perfectly does not send ``a`` to infinity).

The model's last layer is ``sigmoid(h . w + c)``, so the calibrated model is the same network
with ``w -> a * w`` and ``c -> a * c + b``: exported as it is, no extra node, and the export
check (onnxruntime against Keras) runs on the calibrated function.
"""

from __future__ import annotations

import numpy as np

from imdb_edge._metrics import ECE_BINS, reliability

ECE_BINNING = f"{ECE_BINS} equal-width bins of [0, 1] (as imdb-edge evaluate reports)"
A_RANGE = (0.05, 20.0)      # a outside this: the model ranks (almost) nothing, or the fit ran
                            # away; clamped, and b refitted for the clamped a
_LOGIT_CLIP = 1e-7          # float32 probabilities saturate near 1 - 6e-8: logit ~16.6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _newton(z: np.ndarray, t: np.ndarray, a: float, b: float, fit_a: bool) -> tuple[float, float]:
    """Minimise the cross-entropy of ``sigmoid(a z + b)`` against targets ``t``."""

    def loss(a_: float, b_: float) -> float:
        x = a_ * z + b_
        # log(1 + e^x) - t x, stable for either sign of x
        return float(np.mean(np.logaddexp(0.0, x) - t * x))

    current = loss(a, b)
    for _ in range(100):
        q = _sigmoid(a * z + b)
        r = q - t
        w = q * (1 - q) + 1e-12
        if fit_a:
            grad = np.array([np.mean(r * z), np.mean(r)])
            hess = np.array([[np.mean(w * z * z), np.mean(w * z)],
                             [np.mean(w * z), np.mean(w)]]) + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
        else:
            step = np.array([0.0, np.mean(r) / np.mean(w)])
        scale = 1.0
        while scale > 1e-6:                      # backtracking: never a worse loss
            a_new, b_new = a - scale * step[0], b - scale * step[1]
            new = loss(a_new, b_new)
            if new <= current:
                break
            scale /= 2
        else:
            break
        a, b, improvement = a_new, b_new, current - new
        current = new
        if improvement < 1e-12:
            break
    return float(a), float(b)


def fit_platt(p: np.ndarray, y: np.ndarray) -> dict:
    """``a``, ``b`` with ``sigmoid(a * logit(p) + b)`` calibrated on ``(p, y)``.

    Args:
        p: float ``(n,)``, the uncalibrated probabilities of the validation texts.
        y: int ``(n,)``, their 0/1 labels.

    Returns:
        ``{"a", "b", "temperature", "clamped"}``.
    """
    z = logit(p)
    y = np.asarray(y).reshape(-1)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))    # Platt's targets
    a, b = _newton(z, t, 1.0, 0.0, fit_a=True)
    clamped = not A_RANGE[0] <= a <= A_RANGE[1]
    if clamped:
        a = float(np.clip(a, *A_RANGE))
        a, b = _newton(z, t, a, b if np.isfinite(b) else 0.0, fit_a=False)
    return {"a": a, "b": b, "temperature": 1.0 / a, "clamped": clamped}


def apply(p: np.ndarray, calibration: dict) -> np.ndarray:
    """The calibrated probabilities, float64 ``(n,)`` (for reports; the model itself is
    calibrated by :func:`fold_into_last_layer`)."""
    return _sigmoid(calibration["a"] * logit(p) + calibration["b"])


def fold_into_last_layer(model, calibration: dict) -> None:
    """Make ``model`` compute ``sigmoid(a * z + b)``: its last layer must be a one-unit
    Dense with a sigmoid, whose kernel and bias are rescaled in place."""
    layer = model.layers[-1]
    kernel, bias = layer.get_weights()
    if kernel.shape[-1] != 1 or getattr(layer.activation, "__name__", "") != "sigmoid":
        raise ValueError(f"the last layer must be Dense(1, sigmoid); got {layer.name} with "
                         f"kernel {kernel.shape}")
    a, b = calibration["a"], calibration["b"]
    layer.set_weights([(kernel * a).astype(kernel.dtype), (bias * a + b).astype(bias.dtype)])


def ece(y: np.ndarray, p: np.ndarray) -> float:
    """Expected calibration error over :data:`ECE_BINNING`."""
    return float(reliability(y, p, bins=ECE_BINS)["ece"])
