"""Losses paired with their output non-linearity ("matching" losses).

The network's last layer is linear and produces ``z``; each loss applies its own output
non-linearity ``y_hat = g(z)`` and measures ``y_hat`` against the targets ``y``.  With
these pairs (softmax + cross-entropy, sigmoid + binary cross-entropy, identity + squared
error) the loss is convex in ``z``, so

* the output delta is simply ``dL/dz = (y_hat - y) / N``;
* the Hessian of the loss with respect to ``z``, ``H_L``, is positive semi-definite, and
  so is the Gauss-Newton matrix ``J^T H_L J`` that Hessian-free optimisation uses.

Every loss is the **mean over the batch** (axis 0) of a **sum over the output units**.
Targets are float arrays of the output's shape: one-hot rows (or probability rows that
sum to 1) for softmax, 0/1 (or probabilities) per unit for sigmoid, real values for
squared error.  Outputs of more than two axes (e.g. (N, T, K) sequences) are handled
row-wise along the last axis, still averaging over N only.

Methods: ``forward(z, y) -> float`` (caches ``y_hat`` and ``y``; ``sync=False`` keeps the
value as a 0-d array of the backend, so a training step reads nothing back from a GPU),
``output(z) -> y_hat``,
``backward() -> dz``, ``gauss_newton(rz) -> H_L rz``, ``check_targets(y)`` (ValueError
unless ``y`` holds valid targets; :class:`~deepbio.nn.Network` calls it once per batch).

References
----------
Schraudolph (2002), Fast curvature matrix-vector products for second-order gradient
descent.  Martens (2010), Deep learning via Hessian-free optimization.
"""
import math

from .. import backend as _backend

__all__ = ["Loss", "SoftmaxCrossEntropy", "SigmoidCrossEntropy", "SquaredError",
           "MaskedSoftmaxCrossEntropy", "LOSSES", "get_loss"]


def _rows(a, be):
    return be.xp.ascontiguousarray(a.reshape(-1, a.shape[-1]))


#: Softmax target rows must sum to 1 within ``ROW_SUM_TOL * K`` (K classes): loose enough
#: for soft labels rounded to float32, tight enough to catch ``2 * Y`` or a missing class.
ROW_SUM_TOL = 1e-3


class Loss:
    """Base class.  Subclasses set ``name`` and ``activation`` (the output non-linearity,
    a kernel activation name) and implement :meth:`_value`."""

    name = None
    activation = None

    def __init__(self):
        self._p = None
        self._y = None

    def output(self, z):
        """``y_hat = g(z)``, same shape as ``z``."""
        be = _backend.current()
        if self.activation == "linear":
            return be.xp.array(z, copy=True)
        return be.kernels.activation_forward(_rows(z, be), self.activation).reshape(z.shape)

    def forward(self, z, y, sync=True):
        """Mean loss over the batch; caches ``y_hat`` and ``y`` for backward.

        z : (N, ...) pre-activation outputs.  y : targets, same shape.  Returns a Python
        float, or with ``sync=False`` a 0-d array of the backend (no host read).
        """
        be = _backend.current()
        if tuple(y.shape) != tuple(z.shape):
            raise ValueError(f"{type(self).__name__}: targets y have shape {tuple(y.shape)} "
                             f"but the network output has shape {tuple(z.shape)}; they must "
                             f"match (one-hot encode class labels, reshape 1-d targets to "
                             f"(N, 1))")
        y = be.xp.asarray(y, dtype=z.dtype)
        self._n = z.shape[0]
        self._p = self.output(z)
        self._y = y
        # the sum in the data's dtype, the mean in float64 (a float32 sum read back as a
        # Python float, then divided, as when every batch was read on the host)
        value = be.xp.asarray(self._value(z, y, be), dtype="float64") / self._n
        return be.scalar(value) if sync else value

    def backward(self):
        """``dL/dz = (y_hat - y) / N`` from the last :meth:`forward`."""
        self._check_forward()
        return (self._p - self._y) / self._n

    def gauss_newton(self, rz):
        """``H_L rz``: the Hessian of the loss with respect to ``z`` at the last forward,
        times ``rz`` (same shape as ``z``)."""
        self._check_forward()
        be = _backend.current()
        if self.activation == "linear":
            return rz / self._n
        # d y_hat / d z is the activation's (symmetric) Jacobian at y_hat
        hz = be.kernels.activation_backward(_rows(self._p, be), _rows(rz, be), self.activation)
        return hz.reshape(rz.shape) / self._n

    def _check_forward(self):
        if self._p is None:
            raise RuntimeError(f"{type(self).__name__}: call forward(z, y) first")

    def check_targets(self, y):
        """ValueError unless the targets ``y`` are valid for this loss.  Here: finite (no
        NaN or inf); subclasses add their own conditions.  Called on every batch, so each
        check is one or two reductions over ``y``, without temporaries where possible."""
        # a NaN or inf entry makes the sum non-finite; a non-finite sum of finite entries
        # (overflow) is told apart by the exact test
        be = _backend.current()
        if not math.isfinite(be.scalar(y.sum())) and not be.all_finite(y):
            raise ValueError(f"{self.name}: targets y must be finite; they hold NaN or inf")

    def _check_probabilities(self, y):
        """ValueError unless every entry of ``y`` is finite and lies in [0, 1]."""
        be = _backend.current()
        lo, hi = be.scalar(y.min()), be.scalar(y.max())
        if not (lo >= 0 and hi <= 1):              # also false when an entry is NaN
            Loss.check_targets(self, y)            # NaN / inf: say so
            raise ValueError(f"{self.name}: targets y must lie in [0, 1] (probabilities or "
                             f"0/1 labels); got values from {lo} to {hi}")

    def _value(self, z, y, be):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax over the last axis + cross-entropy, for one-of-K classification.

    ``p = softmax(z)``,  ``L = -(1/N) sum_n sum_k y_nk log p_nk``,
    ``dL/dz = (p - y) / N`` (rows of ``y`` sum to 1),
    ``H_L rz = (p * rz - p * sum_k(p * rz)) / N``  (``H_L = (diag p - p p^T) / N`` per row).
    """

    name = "softmax_cross_entropy"
    activation = "softmax"
    #: whether an all-zero target row marks a padded position (skipped by the loss)
    #: instead of being an error: True for MaskedSoftmaxCrossEntropy below
    zero_rows_are_padding = False

    def _value(self, z, y, be):
        xp = be.xp
        z2 = _rows(z, be)
        shifted = z2 - z2.max(axis=-1, keepdims=True)
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        return -(_rows(y, be) * log_p).sum()

    def check_targets(self, y):
        """Targets are probability rows along the last axis: entries in [0, 1], each row
        summing to 1 (one-hot, or soft labels) within ``ROW_SUM_TOL * K``."""
        self._check_probabilities(y)
        be = _backend.current()
        xp = be.xp
        k = y.shape[-1]
        sums = y.reshape(-1, k).sum(axis=1, dtype="float64")
        off = xp.abs(sums - 1.0)                   # how far each row is from summing to 1
        if self.zero_rows_are_padding:
            off[sums == 0] = 0.0
        if not be.scalar(off.max()) <= ROW_SUM_TOL * k:
            i = int(xp.argmax(~(off <= ROW_SUM_TOL * k)))      # the first bad row
            raise ValueError(f"{self.name}: each target row of y (along the last axis) must "
                             f"sum to 1 (one-hot or class probabilities); row {i} sums to "
                             f"{float(sums[i]):.6g}")


class SigmoidCrossEntropy(Loss):
    """Elementwise sigmoid + binary cross-entropy, for binary / multi-label targets.

    ``p = sigmoid(z)``,
    ``L = -(1/N) sum [y log p + (1 - y) log(1 - p)] = (1/N) sum [softplus(z) - y z]``,
    ``dL/dz = (p - y) / N``,  ``H_L rz = p (1 - p) rz / N``.
    """

    name = "sigmoid_cross_entropy"
    activation = "sigmoid"

    def _value(self, z, y, be):
        xp = be.xp
        softplus = xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))
        return (softplus - y * z).sum()

    def check_targets(self, y):
        """Targets are per-unit probabilities (or 0/1 labels): entries in [0, 1]."""
        self._check_probabilities(y)


class SquaredError(Loss):
    """Identity output + half squared error, for regression.

    ``y_hat = z``,  ``L = (1/N) sum 0.5 (z - y)^2``,  ``dL/dz = (z - y) / N``,
    ``H_L rz = rz / N``.
    """

    name = "squared_error"
    activation = "linear"

    def _value(self, z, y, be):
        d = z - y
        return 0.5 * (d * d).sum()


# --------------------------------------------------------------------- the tagger loss


class MaskedSoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """Softmax cross-entropy per position, averaged over the REAL positions only.

    ``z`` and the targets ``y`` are (N, T, K); a position whose target row is all zeros
    is padding.  With ``m_nt = 1[sum_k y_ntk > 0]`` and ``M = sum m``:
    ``L = -(1/M) sum_{n,t} m_nt sum_k y_ntk log p_ntk``, ``dL/dz = m (p - y) / M``,
    ``H_L rz = m (diag p - p p^T) rz / M``.  Padded positions add nothing to the loss,
    the gradient or the curvature, so padding a batch changes none of them.
    """

    name = "masked_softmax_cross_entropy"
    zero_rows_are_padding = True        # all-zero target rows are padding (see above)

    def check_targets(self, y):
        """As for softmax cross-entropy (all-zero rows are padding), and at least one
        position must be real."""
        super().check_targets(y)
        be = _backend.current()
        if not be.scalar(y.max()) > 0:
            raise ValueError(f"{self.name}: the targets y have no real position (every "
                             f"target row is all zeros, i.e. padding)")

    def forward(self, z, y, sync=True):
        be = _backend.current()
        value = super().forward(z, y, sync=False)   # (sum of the real positions' losses) / N
        self._m = (self._y.sum(axis=-1, keepdims=True) > 0).astype(z.dtype)
        # M, the number of real positions, stays on the device with sync=False: a batch
        # cut from checked targets may then hold padding only, and adds nothing (M is
        # taken as 1).  A value read on the host says so instead.
        real = self._m.sum()
        if sync and be.scalar(real) == 0:
            raise ValueError("MaskedSoftmaxCrossEntropy: the batch has no real position")
        real = be.xp.maximum(real, 1)
        n, self._n = self._n, real             # backward and gauss_newton divide by _n
        value = value * n / real
        return be.scalar(value) if sync else value

    def backward(self):
        return super().backward() * self._m

    def gauss_newton(self, rz):
        return super().gauss_newton(rz) * self._m


#: Loss classes by name.
LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidCrossEntropy, SquaredError,
                                    MaskedSoftmaxCrossEntropy)}


def get_loss(loss):
    """A loss object from its name (``"softmax_cross_entropy"``, ``"sigmoid_cross_entropy"``,
    ``"squared_error"``, ``"masked_softmax_cross_entropy"``); a :class:`Loss` instance is
    returned as is."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[loss]()
