"""Explicit Gauss-Newton pieces for tests: ``H_L`` written out from the loss formulas
(not from the loss objects) and ``J`` by central differences, so that
``J^T H_L J`` can be compared with ``Network.gauss_newton_product`` (tests/nn and
tests/optim)."""
import numpy as np


def loss_hessian(name, z):
    """``H_L`` of a mean-over-N loss, (M K, M K) for pre-loss outputs z of shape
    (N, ..., K): softmax ``diag(p) - p p^T``, sigmoid ``diag(p (1 - p))``, squared error
    ``I``, one block per row of K, divided by N."""
    n, k = z.shape[0], z.shape[-1]
    rows = z.reshape(-1, k)
    H = np.zeros((rows.size, rows.size))
    for i, row in enumerate(rows):
        if name == "softmax_cross_entropy":
            p = np.exp(row - row.max())
            p /= p.sum()
            block = np.diag(p) - np.outer(p, p)
        elif name == "sigmoid_cross_entropy":
            p = 1.0 / (1.0 + np.exp(-row))
            block = np.diag(p * (1 - p))
        else:
            block = np.eye(k)
        H[i * k:(i + 1) * k, i * k:(i + 1) * k] = block
    return H / n


def jacobian(f, theta, eps=1e-6):
    """Central differences of a vector function of theta: (len f, len theta)."""
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = eps
        cols.append((f(theta + e) - f(theta - e)).ravel() / (2 * eps))
    return np.stack(cols, axis=1)
