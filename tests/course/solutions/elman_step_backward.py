"""Worked solution of `deepbio course start elman_step_backward`."""


def elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation):
    if activation == "tanh":
        dz = dh * (1 - h * h)
    elif activation == "relu":
        dz = dh * (h > 0)
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0)
