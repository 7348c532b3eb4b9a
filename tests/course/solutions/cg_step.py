"""Worked solution of `deepbio course start cg_step`."""


def cg_step(A, x, r, p, rz):
    if rz == 0:                                       # solved: nothing to do
        return x, r, p, rz
    Ap = A(p)
    alpha = rz / float(p @ Ap)
    x = x + alpha * p
    r = r + alpha * Ap
    rz_new = float(r @ r)
    p = -r + (rz_new / rz) * p
    return x, r, p, rz_new
