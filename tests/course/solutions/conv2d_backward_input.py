"""Worked solution of `deepbio course start conv2d_backward_input`: scatter each
kernel tap's contribution back into a zero-padded dx, then crop."""
import numpy as np


def conv2d_backward_input(dy, w, in_size, stride, padding):
    n, f, oh, ow = dy.shape
    _, c, kh, kw = w.shape
    (h, wd), (sh, sw), (ph, pw) = in_size, stride, padding
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=dy.dtype)
    for p in range(kh):
        for q in range(kw):
            # contribution of tap (p, q): (N, C, OH, OW) = sum_f w[f, c, p, q] dy[n, f]
            t = np.einsum("fc,nfij->ncij", w[:, :, p, q], dy)
            dxp[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += t
    return np.ascontiguousarray(dxp[:, :, ph:ph + h, pw:pw + wd])
