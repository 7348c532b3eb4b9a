"""Worked solution of `deepbio course start dense_gauss_newton`."""
import numpy as np


def dense_gauss_newton(x, W, b, vW, vb, loss):
    n = x.shape[0]
    z = x @ W + b
    jv = x @ vW + vb                                  # R-op: J v
    if loss == "squared_error":
        u = jv
    elif loss == "sigmoid_cross_entropy":
        p = 1 / (1 + np.exp(-np.clip(z, -60, 60)))
        u = p * (1 - p) * jv
    elif loss == "softmax_cross_entropy":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        u = p * (jv - (jv * p).sum(axis=1, keepdims=True))
    else:
        raise ValueError(f"unknown loss {loss!r}")
    u = (u / n).astype(x.dtype)
    return x.T @ u, u.sum(axis=0)                     # J^T (H_L J v)
