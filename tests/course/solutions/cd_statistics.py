"""Worked solution of `deepbio course start cd_statistics`."""


def cd_statistics(v0, h0, vk, hk):
    n = v0.shape[0]
    dW = (v0.T @ h0 - vk.T @ hk) / n
    db = (v0 - vk).mean(axis=0)
    dc = (h0 - hk).mean(axis=0)
    return dW.astype(v0.dtype), db, dc
