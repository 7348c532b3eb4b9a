"""Recurrent layers: Elman, LSTM and GRU, one or both directions, truncated BPTT.

Layouts.  The public sequence layout is ``(N, T, D)`` (sample, time, feature); the
recurrent kernels are time-major ``(T, N, D)``, so :class:`Elman` and :class:`LSTM`
transpose at their boundary.  Output: the last hidden state ``(N, H)``, or with
``return_sequences=True`` every hidden state ``(N, T, H)``; with ``bidirectional=True`` a
second set of parameters reads the sequence backwards and its states are concatenated
after the forward ones (``2H`` features; the backward direction's "last" state is the one
after reading position 0).

Variable lengths (masks).  A network whose first layer is :class:`SequenceMask` takes
inputs ``(N, T, D + 1)`` whose last channel is the mask (1 on real positions, 0 on
padding).  ``SequenceMask`` strips that channel and hands the mask, before every forward,
to the layers after it through their ``set_mask(mask) -> out_mask`` methods; the mask
rides inside ``X``, so every minibatch or curvature batch an optimiser slices out of
``X`` carries its own rows of the mask.  A recurrent layer given a mask

* keeps its state on padded steps: ``h_t = m_t h~_t + (1 - m_t) h_{t-1}`` (and likewise
  ``c_t`` for the LSTM), with ``h~_t`` the cell's update; so the "last" state is the
  state after the last real step, and padded steps get zero gradient;
* emits zeros at padded positions when ``return_sequences=True``.

Masks may have holes for these layers (any 0/1 pattern); convolution and 1-d pooling
need end padding.  Without a mask (or an all-ones mask) the whole-sequence kernels
``elman_forward`` / ``lstm_forward`` and their backward twins do the work; with one, their
masked twins ``elman_forward_masked`` / ``lstm_forward_masked`` / ``*_backward_masked``.

Truncated BPTT.  ``bptt_steps = k`` cuts the backward pass into windows of ``k`` real
steps counted from each sequence's own start in the direction's reading order: from its
first real position for the forward direction, from its last real position for the
backward-reading one (padded steps only carry the state and are not counted).  The
gradient reaching a state never flows back past the start of its window (the forward
pass is unchanged).  So the windows, and the gradient, do not depend on how much padding
there is.  Without a mask the windows are ``[0, k), [k, 2k), ...`` in reading order
(whole-sequence kernels per window); with one, the masked backward kernel cuts the
carried gradient row by row (its ``keep`` argument, :meth:`_Recurrent._carry_keep`).
``None`` (default) is full BPTT.

R-op.  ``rop(dx, dparams)`` runs a forward-mode pass over time with the cached states:
for Elman ``R{h_t} = f'(z_t) (R{x_t} Wx + x_t R{Wx} + R{h_{t-1}} Wh + h_{t-1} R{Wh}
+ R{b})``, and for the LSTM the same through the gates (see :meth:`LSTM.rop`): the
input part ``A_t`` in one product over all steps, the recurrence in the ``elman_rop`` /
``lstm_rop`` kernels.

Per-example squared gradients.  ``backward_squared(dy)`` (rows of ``dy`` per example)
runs the same BPTT as ``backward`` in array maths, keeping the pre-activation gradients
``dz_t`` (T, N, G H) of every step, and forms each example's gradients, sums over time of
outer products (``G_Wx[n] = sum_t x_{t,n}^T dz_{t,n}``, ``G_Wh[n] = sum_t h_{t-1,n}^T
dz_{t,n}``, ``G_b[n] = sum_t dz_{t,n}``), by batched matrix products over n; it returns
``sum_n G[n]**2``.  Masks and truncation act as in ``backward``; structural damping does
not enter (it belongs to the Gauss-Newton product only).

Structural damping (Martens & Sutskever 2011).  Hessian-free sets the attribute
``structural_damping = s`` (``s = mu * lambda / |B_c|``, ``|B_c|`` the curvature batch's
size, so the penalty is averaged over the batch like the loss; default 0.0).  Then the
Gauss-Newton backward pass (``backward(dy, include_penalty=False)``) that follows a
``rop`` adds ``s * m_t * R{h_t}`` to the gradient reaching every hidden state ``h_t``, with
``R{h_t}`` from that ``rop``: the network's product becomes ``(G + s J_h^T J_h) v``, the
curvature of the penalty ``s/2 sum_n sum_t ||h_t(theta + v) - h_t(theta)||^2`` that
keeps the hidden states from moving too far.  The LSTM damps its hidden states ``h_t`` (not the cells).

References
----------
Elman (1990), Finding structure in time.  Hochreiter & Schmidhuber (1997), Long
short-term memory.  Williams & Peng (1990), An efficient gradient-based algorithm for
on-line training of recurrent network trajectories (truncated BPTT).  Martens &
Sutskever (2011), Learning recurrent neural networks with Hessian-free optimization.
"""
import math
import numbers

import numpy as np

from .. import backend as _backend
from ._arrays import _chunks, _contig
from .masking import masks_trusted as _masks_trusted
from .layers import LAYERS, Layer, _choice, _int, _shape

__all__ = ["Elman", "LSTM", "GRU"]

RNN_ACTIVATIONS = ("tanh", "relu")


# ---------------------------------------------------------------------------- helpers


def _orthogonal(be, rng, n, dtype):
    """A random (n, n) orthogonal matrix: Q of the QR factorisation of a Gaussian matrix,
    with the signs fixed so that it is uniformly distributed (Saxe et al. 2014)."""
    u1 = be.to_numpy(be.uniform(rng, (n, n), "float64"))
    u2 = be.to_numpy(be.uniform(rng, (n, n), "float64"))
    a = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))[None, :]
    return be.asarray(q.astype(dtype))


def _gate_bias(name, value):
    """A gate's initial bias: any finite real number, NumPy scalars included
    (``np.float32(1.0)``), but not a bool."""
    if isinstance(value, (bool, np.bool_)) \
            or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _uniform(be, rng, shape, scale, dtype):
    return be.xp.ascontiguousarray((scale * (2.0 * be.uniform(rng, shape, "float64") - 1.0))
                                   .astype(dtype))


def _time_major(x):
    return _contig(x.transpose(1, 0, 2))


def _rows(a):
    """A (T, N, 1) mask or truncation factor as the (T, N) array the kernels take (None
    stays None)."""
    return None if a is None else _contig(a[:, :, 0])


def _mask_time_major(mask, x, trusted=False):
    """The mask as (T, N, 1) of x's dtype, or None when there is none or it is all ones.

    A ``trusted`` mask (from checked inputs, see :class:`~deepbio.nn.SequenceMask`) is not
    looked at on the host: ``"all_real"`` (the inputs hold no padding) gives None, and
    ``"padded"`` the mask, so the masked path runs even on a batch without padding, with
    the same results (``1 * h~ + 0 * h = h~``; truncation windows count real steps)."""
    if mask is None or trusted == "all_real":
        return None
    if not trusted and _backend.current().truth((mask > 0).all()):
        return None
    return _contig(mask.T.astype(x.dtype))[:, :, None]


# --------------------------------------------------------------------------- the base


class _Recurrent(Layer):
    """Bookkeeping shared by Elman and LSTM: directions, masks, truncation, damping.

    A subclass provides ``G`` (gate blocks: 1 or 4), ``_init_bias``, and per direction
    ``_forward_dir(x, m, P) -> cache``, ``_backward_dir(dhs, cache, P, extra) ->
    (dx, grads)``, ``_dz_dir(dhs, cache, P) -> dz`` (the pre-activation gradients of
    every step, for ``backward_squared``) and ``_rop_dir(rx, cache, P, dP) -> Rh`` on
    time-major arrays.
    """

    G = 1
    #: Parameters of one direction, in order (the GRU adds a hidden bias ``bh``).
    DIR_PARAMS = ("Wx", "Wh", "b")

    def __init__(self, units, return_sequences=False, bidirectional=False, bptt_steps=None):
        super().__init__()
        self.units = _int("units", units)
        if not isinstance(return_sequences, (bool, np.bool_)):
            raise ValueError(f"return_sequences must be a bool, got {return_sequences!r}")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.return_sequences = bool(return_sequences)
        self.bidirectional = bool(bidirectional)
        self.bptt_steps = None if bptt_steps is None else _int("bptt_steps", bptt_steps)
        self.structural_damping = 0.0
        self._mask = None
        self._rop_states = None
        self._caches = None              # per direction, cached by forward

    @property
    def param_names(self):
        names = self.DIR_PARAMS
        return names + tuple(n + "_rev" for n in names) if self.bidirectional else names

    def _dir_params(self, d, arrays=None):
        arrays = self._params if arrays is None else arrays
        k = len(self.DIR_PARAMS)
        return arrays[k * d:k * d + k]

    @property
    def n_dirs(self):
        return 2 if self.bidirectional else 1

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        shape = _shape(input_shape)
        name = type(self).__name__
        if len(shape) != 2:
            raise ValueError(f"{name}: input_shape must be (T, D) (time, features), got {shape}")
        t_len, d = shape
        h, g = self.units, self.G
        params = []
        for _ in range(self.n_dirs):
            # input weights: Glorot uniform per gate block; recurrent: orthogonal per block
            wx = _uniform(be, rng, (d, g * h), math.sqrt(6.0 / (d + h)), dtype)
            wh = be.xp.concatenate([_orthogonal(be, rng, h, dtype) for _ in range(g)], axis=1)
            params += [wx, _contig(wh), self._init_bias(be, dtype)]
            params += [be.xp.zeros(g * h, dtype=dtype) for _ in self.DIR_PARAMS[3:]]
        self._new_params(params, be)
        self.input_shape = shape
        width = h * self.n_dirs
        self.output_shape = (t_len, width) if self.return_sequences else (width,)
        return self.output_shape

    def _init_bias(self, be, dtype):
        return be.xp.zeros(self.G * self.units, dtype=dtype)

    # ----------------------------------------------------------------- masks
    def set_mask(self, mask):
        """Use ``mask`` (N, T) in the next forward; return the output's mask (the same
        mask with ``return_sequences``, else None: the output has no time axis)."""
        self._mask = mask
        self._mask_trusted = _masks_trusted()
        return mask if self.return_sequences else None

    # ----------------------------------------------------------------- forward
    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        xp = be.xp
        d = self.input_shape[1]
        if x.ndim != 3 or x.shape[2] != d or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{type(self).__name__}: expected sequences of shape (N, T, {d}), "
                             f"got {tuple(x.shape)}")
        if self._mask is not None and tuple(self._mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{type(self).__name__}: mask of shape {tuple(self._mask.shape)} "
                             f"does not match sequences of shape {tuple(x.shape)}")
        self._rop_states = None
        xt = _time_major(x)
        m = _mask_time_major(self._mask, xt, getattr(self, "_mask_trusted", False))
        self._m = m
        self._caches = []
        outs = []
        for k in range(self.n_dirs):
            xd, md = (xt, m) if k == 0 else (_contig(xt[::-1]), None if m is None
                                                  else _contig(m[::-1]))
            cache = self._forward_dir(xd, md, self._dir_params(k), be)
            cache["x"], cache["m"] = xd, md
            self._caches.append(cache)
            hs = cache["hs"]
            if self.return_sequences:
                seq = hs if md is None else hs * md
                outs.append(seq if k == 0 else seq[::-1])
            else:
                outs.append(hs[-1])
        if self.return_sequences:
            y = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=2)
            return _time_major(y)
        return outs[0] if len(outs) == 1 else _contig(xp.concatenate(outs, axis=1))

    # ---------------------------------------------------------------- backward
    def _split_dy(self, dy):
        """Per direction, the time-major gradient reaching every state (T, N, H)."""
        be = _backend.current()
        xp = be.xp
        h = self.units
        t_len, n = self._caches[0]["hs"].shape[:2]
        out = []
        for k in range(self.n_dirs):
            part = dy[..., k * h:(k + 1) * h]
            if self.return_sequences:
                dhs = _time_major(part)
                if k == 1:
                    dhs = dhs[::-1]
                md = self._caches[k]["m"]
                dhs = _contig(dhs if md is None else dhs * md)
            else:
                dhs = xp.zeros((t_len, n, h), dtype=dy.dtype)
                dhs[-1] = part
            out.append(dhs)
        return out

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._caches, "backward")
        be = _backend.current()
        damping = None
        if not include_penalty and self.structural_damping and self._rop_states is not None:
            damping = self._rop_states
        self._rop_states = None
        dx = None
        for k, dhs in enumerate(self._split_dy(be.xp.ascontiguousarray(dy))):
            cache = self._caches[k]
            if damping is not None:
                md = cache["m"]
                rh = damping[k] if md is None else damping[k] * md
                dhs = dhs + self.structural_damping * rh
            dxk, grads = self._backward_dir(_contig(dhs), cache, self._dir_params(k), be)
            for g_out, g in zip(self._dir_params(k, self._grads), grads):
                g_out[...] = g
            dxk = dxk if k == 0 else dxk[::-1]
            dx = dxk if dx is None else dx + dxk
        return _time_major(dx)

    def backward_squared(self, dy):
        """Per-example squared gradients in one pass (rows of ``dy``: ``d l_n / d y_n``).

        Per direction: ``dz = _dz_dir(...)`` (T, N, G H), the pre-activation gradients
        of the ordinary backward (masks and truncation included); ``dx_t = dz_t Wx^T``;
        example n's gradients ``G_Wx[n] = sum_t x_{t,n}^T dz_{t,n}``, ``G_Wh[n] = sum_t
        h_{t-1,n}^T dz_{t,n}``, ``G_b[n] = sum_t dz_{t,n}`` (batched matrix products over
        n); ``grads = sum_n G[n]**2``.  Structural damping is ignored.
        """
        self._check_forward(self._caches, "backward_squared")
        be = _backend.current()
        xp = be.xp
        dx = None
        for k, dhs in enumerate(self._split_dy(xp.ascontiguousarray(dy))):
            cache = self._caches[k]
            dxk, squares = self._squares_dir(dhs, cache, self._dir_params(k), be)
            for g_out, g in zip(self._dir_params(k, self._grads), squares):
                g_out[...] = g
            dxk = dxk if k == 0 else dxk[::-1]
            dx = dxk if dx is None else dx + dxk
        return _time_major(dx)

    def _squares_dir(self, dhs, cache, P, be):
        """``(dx, squares)`` of one direction for :meth:`backward_squared`."""
        dz = self._dz_dir(dhs, cache, P, be)                       # (T, N, G H)
        x = cache["x"]
        t_len, n, d = x.shape
        dxk = (dz.reshape(t_len * n, -1) @ P[0].T).reshape(t_len, n, d)
        return dxk, _squared_example_sums(x, cache["hs"], dz, be)

    def _windows(self, t_len):
        """Truncated-BPTT windows [start, stop) of the unmasked path (every sequence has
        all ``t_len`` positions, in the direction's reading order), last first."""
        k = self.bptt_steps or t_len
        return [(s, min(s + k, t_len)) for s in range(0, t_len, k)][::-1]

    def _carry_keep(self, cache, be):
        """Truncation of the step-by-step backward: (T, N, 1), 0 where step t starts a
        truncation window of row n, else 1 (None for full BPTT); the gradient carried
        from step t into step t-1 is multiplied by it.

        Windows are counted in real steps, per row, in this direction's reading order:
        with ``j_t`` the number of real steps of row n before t, a real step with ``j_t %
        k == 0`` starts a window.  Padded steps (which only carry the state) never do, so
        neither the padding after a sequence (before it, for the backward-reading
        direction) nor holes move a window.  Without a mask ``j_t = t``.
        """
        k = self.bptt_steps
        if k is None:
            return None
        xp = be.xp
        x, m = cache["x"], cache["m"]
        if m is None:
            return (xp.arange(x.shape[0]) % k != 0).astype(x.dtype)[:, None, None]
        real = m > 0                                              # (T, N, 1)
        j = xp.cumsum(real, axis=0) - 1                           # real steps before t
        return (~real | (j % k != 0)).astype(x.dtype)

    # --------------------------------------------------------------------- rop
    def rop(self, dx, dparams=None):
        self._check_forward(self._caches, "rop")
        be = _backend.current()
        xp = be.xp
        dparams = list(dparams) if dparams is not None else [None] * len(self._params)
        if dx is None and all(p is None for p in dparams):
            self._rop_states = None
            return None
        rxt = None if dx is None else _time_major(dx)
        outs, states = [], []
        for k in range(self.n_dirs):
            cache = self._caches[k]
            rx = rxt if (k == 0 or rxt is None) else _contig(rxt[::-1])
            rh = self._rop_dir(rx, cache, self._dir_params(k), self._dir_params(k, dparams), be)
            states.append(rh)
            md = cache["m"]
            if self.return_sequences:
                seq = rh if md is None else rh * md
                outs.append(seq if k == 0 else seq[::-1])
            else:
                outs.append(rh[-1])
        self._rop_states = states
        if self.return_sequences:
            y = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=2)
            return _time_major(y)
        return outs[0] if len(outs) == 1 else _contig(xp.concatenate(outs, axis=1))

    def _input_tangent(self, rx, cache, P, dP, be):
        """``A_t = R{x_t} Wx + x_t R{Wx} + h_{t-1} R{Wh} + R{b}`` for every t, (T, N, G H):
        the part of ``R{z_t}`` that does not depend on ``R{h_{t-1}}``."""
        xp = be.xp
        x = cache["x"]
        t_len, n = x.shape[:2]
        a = xp.zeros((t_len * n, self.G * self.units), dtype=x.dtype)
        wx = P[0]
        rwx, rwh, rb = dP[:3]
        if rx is not None:
            a += rx.reshape(t_len * n, -1) @ wx
        if rwx is not None:
            a += x.reshape(t_len * n, -1) @ rwx
        if rwh is not None:
            a += _hprev(cache["hs"], cache["h0"]).reshape(t_len * n, -1) @ rwh
        if rb is not None:
            a += rb
        return a.reshape(t_len, n, -1)

    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences,
                "bidirectional": self.bidirectional, "bptt_steps": self.bptt_steps}


def _hprev(hs, h0):
    """(T, N, H) stack of the states each step starts from: h0, h_1, ..., h_{T-1}."""
    xp = _backend.current().xp
    return _contig(xp.concatenate([h0[None], hs[:-1]], axis=0))


def _squared_example_sums(x, hs, dz, be):
    """``(sum_n G_Wx[n]**2, sum_n G_Wh[n]**2, sum_n G_b[n]**2)`` from time-major
    ``x`` (T, N, D), states ``hs`` (T, N, H) and ``dz`` (T, N, G H), where ``G_Wx[n] =
    sum_t x_{t,n}^T dz_{t,n}`` (einsum ``'tnd,tng->ndg'``, a batched matrix product over
    n), ``G_Wh[n] = sum_t h_{t-1,n}^T dz_{t,n}`` and ``G_b[n] = sum_t dz_{t,n}``.  The
    initial state is ``h_0 = 0``, so step 0 adds nothing to ``G_Wh``.
    """
    xp = be.xp
    d, h, g = x.shape[2], hs.shape[2], dz.shape[2]
    # example-major views (N, T, .): each example's matrix is a strided 2-d slice
    xn, zn = x.transpose(1, 0, 2), dz.transpose(1, 0, 2)
    hn, zn1 = hs[:-1].transpose(1, 0, 2), dz[1:].transpose(1, 0, 2)
    swx = xp.zeros((d, g), dtype=dz.dtype)
    swh = xp.zeros((h, g), dtype=dz.dtype)
    for part in _chunks(x.shape[1], (d + h) * g):
        gwx = xp.matmul(xn[part].transpose(0, 2, 1), zn[part])      # (n, D, G H)
        gwx *= gwx
        swx += gwx.sum(axis=0)
        if hn.shape[1]:                                              # T > 1
            gwh = xp.matmul(hn[part].transpose(0, 2, 1), zn1[part])  # (n, H, G H)
            gwh *= gwh
            swh += gwh.sum(axis=0)
    gb = dz.sum(axis=0)                                              # (N, G H)
    return swx, swh, (gb * gb).sum(axis=0)


# ----------------------------------------------------------------------------- Elman


class Elman(_Recurrent):
    """Elman (simple) recurrent layer: ``h_t = f(x_t Wx + h_{t-1} Wh + b)``, ``h_0 = 0``.

    Parameters
    ----------
    units : int
        Hidden size H.
    activation : {"tanh", "relu"}
    return_sequences : bool, default False
        Output every state (N, T, H) instead of the last one (N, H).
    bidirectional : bool, default False
        Add a second layer reading the sequence backwards (outputs concatenated, 2H).
    bptt_steps : int or None
        Truncated BPTT window (see the module docstring); None: full BPTT.

    Notes
    -----
    Parameters of the layer: ``Wx`` (D, H), Glorot uniform; ``Wh`` (H, H), a random
    orthogonal matrix (its eigenvalues lie on the unit circle, so gradients neither
    explode nor vanish at the start of training; Saxe et al. 2014); ``b`` (H,) zero.
    ``Wx_rev``, ``Wh_rev``, ``b_rev`` likewise for the backward direction.

    Attributes
    ----------
    structural_damping : float
        Weight ``s`` of the structural damping term (module docstring); set by
        Hessian-free, 0.0 otherwise.

    References
    ----------
    Elman (1990), Finding structure in time.
    """

    G = 1

    def __init__(self, units, activation="tanh", return_sequences=False, bidirectional=False,
                 bptt_steps=None):
        super().__init__(units, return_sequences, bidirectional, bptt_steps)
        self.activation = _choice("activation", activation, RNN_ACTIVATIONS)

    def _forward_dir(self, x, m, P, be):
        wx, wh, b = P
        t_len, n = x.shape[:2]
        h0 = be.xp.zeros((n, self.units), dtype=x.dtype)
        if m is None:
            hs = be.kernels.elman_forward(x, h0, wx, wh, b, self.activation)
            return {"hs": hs, "hnew": hs, "h0": h0}
        hs, hnew = be.kernels.elman_forward_masked(x, h0, _rows(m), wx, wh, b, self.activation)
        return {"hs": hs, "hnew": hnew, "h0": h0}

    def _backward_dir(self, dhs, cache, P, be):
        wx, wh, _ = P
        x, hs, m = cache["x"], cache["hs"], cache["m"]
        if m is None:
            dx = be.xp.empty_like(x)
            total = None
            for s, e in self._windows(x.shape[0]):
                h0 = cache["h0"] if s == 0 else hs[s - 1]
                dx[s:e], _, gwx, gwh, gb = be.kernels.elman_backward(
                    dhs[s:e], x[s:e], h0, hs[s:e], wx, wh, self.activation)
                total = [gwx, gwh, gb] if total is None else \
                    [a + g for a, g in zip(total, (gwx, gwh, gb))]
            return dx, total
        dx, _, gwx, gwh, gb = be.kernels.elman_backward_masked(
            dhs, x, cache["h0"], hs, cache["hnew"], _rows(m),
            _rows(self._carry_keep(cache, be)), wx, wh, self.activation)
        return dx, [gwx, gwh, gb]

    def _dz_dir(self, dhs, cache, P, be):
        """BPTT keeping every step's pre-activation gradient (T, N, H):
        ``dh_t = dhs_t + c_t``, ``dz_t = m_t f'(z_t) dh_t``, and the carry into step t-1
        ``c_{t-1} = dz_t Wh^T + (1 - m_t) dh_t``, reset to 0 (per row) at truncation
        window starts (:meth:`_carry_keep`); ``m_t = 1`` without a mask.  The same
        recursion as :meth:`_backward_dir`."""
        xp = be.xp
        _, wh, _ = P
        act = be.kernels.raw["activation_backward"]
        hnew, m = cache["hnew"], cache["m"]
        keep = self._carry_keep(cache, be)
        dz = xp.empty_like(hnew)
        carry = xp.zeros_like(cache["h0"])
        for t in range(dhs.shape[0] - 1, -1, -1):
            dh = dhs[t] + carry
            dz[t] = act(hnew[t], dh if m is None else _contig(m[t] * dh), self.activation)
            carry = dz[t] @ wh.T
            if m is not None:
                carry += (1 - m[t]) * dh
            if keep is not None:
                carry *= keep[t]
        return dz

    def _rop_dir(self, rx, cache, P, dP, be):
        """``R{h_t} = m_t f'(z_t) (A_t + R{h_{t-1}} Wh) + (1 - m_t) R{h_{t-1}}``
        (the ``elman_rop`` kernel)."""
        _, wh, _ = P
        a = self._input_tangent(rx, cache, P, dP, be)
        return be.kernels.elman_rop(a, cache["hnew"], _rows(cache["m"]), wh, self.activation)

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = self.activation
        return cfg


# ------------------------------------------------------------------------------ LSTM


class LSTM(_Recurrent):
    """Long short-term memory layer (gate order i, f, g, o, as in PyTorch).

    ``[z_i, z_f, z_g, z_o] = x_t Wx + h_{t-1} Wh + b``;  ``i, f, o = sigm(z_i, z_f, z_o)``,
    ``g = tanh(z_g)``;  ``c_t = f c_{t-1} + i g``;  ``h_t = o tanh(c_t)``;
    ``h_0 = c_0 = 0``.

    Parameters
    ----------
    units : int
        Hidden size H.
    return_sequences, bidirectional, bptt_steps
        As for :class:`Elman`.
    forget_bias : float, default 1.0
        Initial bias of the forget gate (Gers et al. 2000; Jozefowicz et al. 2015): with
        ``f = sigm(forget_bias)`` near 1 the cell keeps its content from the start.

    Notes
    -----
    Parameters of the layer: ``Wx`` (D, 4H) Glorot uniform per gate; ``Wh`` (H, 4H), an
    orthogonal (H, H) block per gate; ``b`` (4H,) zero except the forget block.

    Attributes
    ----------
    structural_damping : float
        See :class:`Elman`; it damps the hidden states ``h_t``.

    References
    ----------
    Hochreiter & Schmidhuber (1997), Long short-term memory.  Gers, Schmidhuber &
    Cummins (2000), Learning to forget.
    """

    G = 4

    def __init__(self, units, return_sequences=False, bidirectional=False, bptt_steps=None,
                 forget_bias=1.0):
        super().__init__(units, return_sequences, bidirectional, bptt_steps)
        self.forget_bias = _gate_bias("forget_bias", forget_bias)

    def _init_bias(self, be, dtype):
        b = be.xp.zeros(4 * self.units, dtype=dtype)
        b[self.units:2 * self.units] = self.forget_bias
        return b

    def _forward_dir(self, x, m, P, be):
        wx, wh, b = P
        t_len, n = x.shape[:2]
        h = self.units
        h0 = be.xp.zeros((n, h), dtype=x.dtype)
        c0 = be.xp.zeros((n, h), dtype=x.dtype)
        if m is None:
            hs, cs, gates = be.kernels.lstm_forward(x, h0, c0, wx, wh, b)
            return {"hs": hs, "cs": cs, "gates": gates, "cnew": cs, "h0": h0, "c0": c0}
        hs, cs, cnew, gates = be.kernels.lstm_forward_masked(x, h0, c0, _rows(m), wx, wh, b)
        return {"hs": hs, "cs": cs, "gates": gates, "cnew": cnew, "h0": h0, "c0": c0}

    def _backward_dir(self, dhs, cache, P, be):
        wx, wh, _ = P
        x, hs, cs, gates, m = cache["x"], cache["hs"], cache["cs"], cache["gates"], cache["m"]
        if m is None:
            dx = be.xp.empty_like(x)
            total = None
            for s, e in self._windows(x.shape[0]):
                h0, c0 = (cache["h0"], cache["c0"]) if s == 0 else (hs[s - 1], cs[s - 1])
                dx[s:e], _, _, gwx, gwh, gb = be.kernels.lstm_backward(
                    dhs[s:e], x[s:e], h0, c0, hs[s:e], cs[s:e], gates[s:e], wx, wh)
                total = [gwx, gwh, gb] if total is None else \
                    [a + g for a, g in zip(total, (gwx, gwh, gb))]
            return dx, total
        dx, _, _, gwx, gwh, gb = be.kernels.lstm_backward_masked(
            dhs, x, cache["h0"], cache["c0"], hs, cs, cache["cnew"], gates, _rows(m),
            _rows(self._carry_keep(cache, be)), wx, wh)
        return dx, [gwx, gwh, gb]

    def _dz_dir(self, dhs, cache, P, be):
        """BPTT keeping every step's gate pre-activation gradients (T, N, 4H), the
        recursion of :meth:`_backward_dir` (and ``lstm_step_backward``): with ``dh_t =
        m_t (dhs_t + c^h_t)``, ``dc_t = m_t c^c_t``, ``tc = tanh(c~_t)``,
        ``dc_tot = dc_t + dh_t o (1 - tc^2)``, ``dz_t = [dc_tot g i(1-i), dc_tot c_{t-1}
        f(1-f), dc_tot i (1-g^2), dh_t tc o(1-o)]``; carries into step t-1:
        ``c^h_{t-1} = dz_t Wh^T + (1 - m_t)(dhs_t + c^h_t)``, ``c^c_{t-1} = dc_tot f +
        (1 - m_t) c^c_t``, both reset to 0 (per row) at truncation window starts
        (:meth:`_carry_keep`)."""
        xp = be.xp
        _, wh, _ = P
        hsz = self.units
        gates, cs, cnew, m = cache["gates"], cache["cs"], cache["cnew"], cache["m"]
        keep = self._carry_keep(cache, be)
        dz = xp.empty_like(gates)
        dh_carry = xp.zeros_like(cache["h0"])
        dc_carry = xp.zeros_like(cache["c0"])
        for t in range(dhs.shape[0] - 1, -1, -1):
            dh_all = dhs[t] + dh_carry
            dh, dc = (dh_all, dc_carry) if m is None else (m[t] * dh_all, m[t] * dc_carry)
            gt = gates[t]
            i, f, g, o = (gt[:, j * hsz:(j + 1) * hsz] for j in range(4))
            tc = xp.tanh(cnew[t])
            dc_tot = dc + dh * o * (1 - tc * tc)
            c_prev = cs[t - 1] if t else cache["c0"]
            dz[t, :, :hsz] = dc_tot * g * i * (1 - i)
            dz[t, :, hsz:2 * hsz] = dc_tot * c_prev * f * (1 - f)
            dz[t, :, 2 * hsz:3 * hsz] = dc_tot * i * (1 - g * g)
            dz[t, :, 3 * hsz:] = dh * tc * o * (1 - o)
            dh_carry = dz[t] @ wh.T
            dc_new = dc_tot * f
            if m is not None:
                dh_carry += (1 - m[t]) * dh_all
                dc_new += (1 - m[t]) * dc_carry
            dc_carry = dc_new
            if keep is not None:
                dh_carry *= keep[t]
                dc_carry *= keep[t]
        return dz

    def _rop_dir(self, rx, cache, P, dP, be):
        """Forward-mode pass through the gates with ``R{z_t} = A_t + R{h_{t-1}} Wh``:

        ``R{i} = i(1-i) R{z_i}``, ``R{f} = f(1-f) R{z_f}``, ``R{g} = (1-g^2) R{z_g}``,
        ``R{o} = o(1-o) R{z_o}``;  ``R{c~_t} = R{f} c_{t-1} + f R{c_{t-1}} + R{i} g + i R{g}``;
        ``R{h~_t} = R{o} tanh(c~_t) + o (1 - tanh^2 c~_t) R{c~_t}``; masked steps keep
        ``R{h}``, ``R{c}`` as for the states themselves.
        """
        _, wh, _ = P
        a = self._input_tangent(rx, cache, P, dP, be)
        return be.kernels.lstm_rop(a, cache["c0"], cache["cs"], cache["cnew"], cache["gates"],
                                   _rows(cache["m"]), wh)

    def get_config(self):
        cfg = super().get_config()
        cfg["forget_bias"] = self.forget_bias
        return cfg


# ------------------------------------------------------------------------------- GRU


class GRU(_Recurrent):
    """Gated recurrent unit layer (Cho et al. 2014), in PyTorch's formulation.

    Gate order r (reset), z (update), n (candidate), with separate input and hidden
    biases as in ``torch.nn.GRU``::

        r = sigm(x_t Wx_r + b_r + h_{t-1} Wh_r + bh_r)
        z = sigm(x_t Wx_z + b_z + h_{t-1} Wh_z + bh_z)
        n = tanh(x_t Wx_n + b_n + r * (h_{t-1} Wh_n + bh_n))
        h_t = (1 - z) * n + z * h_{t-1},   h_0 = 0.

    The reset gate multiplies the hidden candidate term *after* its product with
    ``Wh_n`` (and its bias ``bh_n``), as PyTorch and cuDNN do; Cho et al.'s paper applies
    it before, ``tanh(x Wx_n + (r * h) Wh_n)``.  This placement lets ``h_{t-1} Wh`` for
    all three gates be one matrix product per step, and a model moves to and from
    PyTorch with ``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``, ``b = bias_ih_l0``,
    ``bh = bias_hh_l0``.  (``bh_r`` and ``bh_z`` only add to ``b_r``, ``b_z``; they are
    kept so the parameters are PyTorch's one for one.)

    Parameters
    ----------
    units : int
        Hidden size H.
    return_sequences, bidirectional, bptt_steps
        As for :class:`Elman`.
    update_bias : float, default 1.0
        Initial bias of the update gate ``z`` (in ``b``), the GRU's counterpart of the
        LSTM's ``forget_bias``: ``h_t = (1 - z) n + z h_{t-1}``, so with
        ``z = sigm(update_bias)`` near 1 the unit keeps its state from the start.  On
        deepbio's long-range task (label = first of 30 symbols) 5 of 5 seeds solve it
        in 20 Adam epochs with 1.0, 3 of 5 with 0 (PyTorch's zero init:
        ``bench/rnn_accuracy.py``).

    Notes
    -----
    Parameters of the layer: ``Wx`` (D, 3H) Glorot uniform per gate; ``Wh`` (H, 3H), an
    orthogonal (H, H) block per gate; ``b`` (3H,) zero except the update block, which is
    ``update_bias``; ``bh`` (3H,) zero; ``*_rev`` for
    the backward direction.  Masks, truncated BPTT, the R-op (so Hessian-free trains it)
    and structural damping (of ``h_t``) work as for :class:`LSTM`.

    References
    ----------
    Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk & Bengio (2014), Learning
    phrase representations using RNN encoder-decoder for statistical machine translation.
    """

    G = 3
    DIR_PARAMS = ("Wx", "Wh", "b", "bh")

    def __init__(self, units, return_sequences=False, bidirectional=False, bptt_steps=None,
                 update_bias=1.0):
        super().__init__(units, return_sequences, bidirectional, bptt_steps)
        self.update_bias = _gate_bias("update_bias", update_bias)

    def _init_bias(self, be, dtype):
        b = be.xp.zeros(3 * self.units, dtype=dtype)
        b[self.units:2 * self.units] = self.update_bias
        return b

    def get_config(self):
        cfg = super().get_config()
        cfg["update_bias"] = self.update_bias
        return cfg

    def _forward_dir(self, x, m, P, be):
        wx, wh, b, bh = P
        n = x.shape[1]
        h0 = be.xp.zeros((n, self.units), dtype=x.dtype)
        if m is None:
            hs, gates, hn = be.kernels.gru_forward(x, h0, wx, wh, b, bh)
            return {"hs": hs, "gates": gates, "hn": hn, "h0": h0}
        hs, _, gates, hn = be.kernels.gru_forward_masked(x, h0, _rows(m), wx, wh, b, bh)
        return {"hs": hs, "gates": gates, "hn": hn, "h0": h0}

    def _backward_dir(self, dhs, cache, P, be):
        wx, wh = P[:2]
        x, hs, gates, hn, m = cache["x"], cache["hs"], cache["gates"], cache["hn"], cache["m"]
        if m is None:
            dx = be.xp.empty_like(x)
            total = None
            for s, e in self._windows(x.shape[0]):
                h0 = cache["h0"] if s == 0 else hs[s - 1]
                dx[s:e], _, *grads = be.kernels.gru_backward(
                    dhs[s:e], x[s:e], h0, hs[s:e], gates[s:e], hn[s:e], wx, wh)
                total = grads if total is None else [a + g for a, g in zip(total, grads)]
            return dx, total
        dx, _, *grads = be.kernels.gru_backward_masked(
            dhs, x, cache["h0"], hs, gates, hn, _rows(m), _rows(self._carry_keep(cache, be)),
            wx, wh)
        return dx, grads

    def _dz_dir(self, dhs, cache, P, be):
        """BPTT keeping every step's pre-activation gradients: ``(dzx, dzh)``, each
        (T, N, 3H), the gradients of ``x_t Wx + b`` and of ``h_{t-1} Wh + bh``.  With
        ``dh = m_t (dhs_t + c_t)``: ``da_n = dh (1-z)(1-n^2)``, ``da_z = dh (h_{t-1} - n)
        z(1-z)``, ``da_r = da_n hn r(1-r)``; ``dzx = [da_r, da_z, da_n]``, ``dzh = [da_r,
        da_z, r da_n]``; the carry into step t-1 ``c_{t-1} = dzh_t Wh^T + dh z + (1 - m_t)
        (dhs_t + c_t)``, reset at truncation window starts.  The recursion of
        :meth:`_backward_dir` (``gru_backward_masked``)."""
        xp = be.xp
        wh = P[1]
        hsz = self.units
        gates, hn, hs, m = cache["gates"], cache["hn"], cache["hs"], cache["m"]
        keep = self._carry_keep(cache, be)
        dzx, dzh = xp.empty_like(gates), xp.empty_like(gates)
        carry = xp.zeros_like(cache["h0"])
        for t in range(dhs.shape[0] - 1, -1, -1):
            dh_all = dhs[t] + carry
            dh = dh_all if m is None else m[t] * dh_all
            g = gates[t]
            r, z, n = g[:, :hsz], g[:, hsz:2 * hsz], g[:, 2 * hsz:]
            hp = hs[t - 1] if t else cache["h0"]
            dan = dh * (1 - z) * (1 - n * n)
            daz = dh * (hp - n) * z * (1 - z)
            dar = dan * hn[t] * r * (1 - r)
            dzx[t, :, :hsz] = dzh[t, :, :hsz] = dar
            dzx[t, :, hsz:2 * hsz] = dzh[t, :, hsz:2 * hsz] = daz
            dzx[t, :, 2 * hsz:] = dan
            dzh[t, :, 2 * hsz:] = dan * r
            carry = dzh[t] @ wh.T + dh * z
            if m is not None:
                carry += (1 - m[t]) * dh_all
            if keep is not None:
                carry *= keep[t]
        return dzx, dzh

    def _squares_dir(self, dhs, cache, P, be):
        """Per-example squared gradients: ``G_Wx[n] = sum_t x_{t,n}^T dzx_{t,n}``,
        ``G_b[n] = sum_t dzx_{t,n}``, ``G_Wh[n] = sum_t h_{t-1,n}^T dzh_{t,n}``,
        ``G_bh[n] = sum_t dzh_{t,n}`` (see :meth:`_dz_dir`)."""
        dzx, dzh = self._dz_dir(dhs, cache, P, be)
        x, hs = cache["x"], cache["hs"]
        t_len, n, d = x.shape
        dxk = (dzx.reshape(t_len * n, -1) @ P[0].T).reshape(t_len, n, d)
        swx, _, sb = _squared_example_sums(x, hs[:1], dzx, be)
        _, swh, sbh = _squared_example_sums(x[:, :, :1], hs, dzh, be)
        return dxk, (swx, swh, sb, sbh)

    def _rop_dir(self, rx, cache, P, dP, be):
        """Forward-mode pass (the ``gru_rop`` kernel) with the input tangent in two
        parts, ``Ax_t = R{x_t} Wx + x_t R{Wx} + R{b}`` and ``Ah_t = h_{t-1} R{Wh} +
        R{bh}`` (the reset gate multiplies only the hidden one), each one product over
        all steps."""
        xp = be.xp
        wx, wh = P[:2]
        rwx, rwh, rb, rbh = dP
        x = cache["x"]
        t_len, n = x.shape[:2]
        g = self.G * self.units
        ax = xp.zeros((t_len * n, g), dtype=x.dtype)
        ah = xp.zeros((t_len * n, g), dtype=x.dtype)
        if rx is not None:
            ax += rx.reshape(t_len * n, -1) @ wx
        if rwx is not None:
            ax += x.reshape(t_len * n, -1) @ rwx
        if rb is not None:
            ax += rb
        if rwh is not None:
            ah += _hprev(cache["hs"], cache["h0"]).reshape(t_len * n, -1) @ rwh
        if rbh is not None:
            ah += rbh
        return be.kernels.gru_rop(ax.reshape(t_len, n, g), ah.reshape(t_len, n, g),
                                  cache["h0"], cache["hs"], cache["gates"], cache["hn"],
                                  _rows(cache["m"]), wh)


LAYERS.update({cls.__name__: cls for cls in (Elman, LSTM, GRU)})


_MOVED = {"SequenceMask": "masking", "TimeDistributedDense": "layers",
          "MaskedSoftmaxCrossEntropy": "losses"}


def __getattr__(name):
    """Names that moved out of this module still import from it, with a warning."""
    if name in _MOVED:
        import importlib
        import warnings
        warnings.warn(f"deepbio.nn.recurrent.{name} moved to deepbio.nn.{_MOVED[name]}."
                      f"{name} (also deepbio.nn.{name}); the old path will be removed",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(f"deepbio.nn.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
