"""Worked solution of `deepbio course start dense_backward`."""


def dense_backward(x, W, a, da, activation):
    if activation == "linear":
        dz = da
    elif activation == "sigmoid":
        dz = da * a * (1 - a)
    elif activation == "tanh":
        dz = da * (1 - a ** 2)
    elif activation == "relu":
        dz = da * (a > 0)
    elif activation == "softmax":
        dz = a * (da - (da * a).sum(axis=1, keepdims=True))
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return dz @ W.T, x.T @ dz, dz.sum(axis=0)
