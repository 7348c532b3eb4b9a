"""One view of every supervised deepbio model for the attribution methods.

:class:`Explained` wraps a fitted model and gives what :mod:`deepbio.explain` needs, the
same way whatever the model:

* ``validate(X, mask)`` -> ``(Xv, m)``: ``X`` checked by the model's own input checks,
  as a float64 NumPy array shaped like the user's ``X`` (padding zeroed), and the mask
  ``m`` (N, L) of sequences (None for tables and images);
* ``net`` -- a :class:`deepbio.nn.Network` computing the model's pre-output ``z`` (the
  fitted one for CNN / RNN models; for the dense models one rebuilt from ``coefs_`` /
  ``intercepts_``, which is what ``predict`` computes);
* ``net_input(Xv, m)`` -- the network's input for (a batch of) validated data;
* ``value_and_grad(Xv, m, target, output)`` -> ``(f, dXv)``: the scalar per sample that
  is explained and its gradient with respect to ``Xv``, by one forward and one backward
  pass of the model's own layers (:meth:`deepbio.nn.Network.input_gradient`).
"""
import numpy as np

from .._device import to_host
from ..models._base import current_backend
from ..models._checks import with_mask_channel
from ..models._feedforward import FeedForwardClassifier, FeedForwardRegressor
from ..models.cnn import CNNClassifier, CNNRegressor
from ..models.rnn import RNNClassifier, RNNRegressor, RNNTagger
from ..nn import Dense, Network, layer_from_config

__all__ = ["Explained", "SUPPORTED"]

SUPPORTED = ("MLPClassifier", "MLPRegressor", "DBNClassifier", "DBNRegressor",
             "StackedAutoEncoderClassifier", "StackedAutoEncoderRegressor", "CNNClassifier",
             "CNNRegressor", "RNNClassifier", "RNNRegressor", "RNNTagger")

OUTPUTS = ("probability", "logit", "prediction")


class Explained:
    """A fitted supervised model seen by the attribution methods (see the module doc)."""

    def __init__(self, model):
        if not isinstance(model, (FeedForwardClassifier, FeedForwardRegressor, CNNClassifier,
                                  CNNRegressor, RNNClassifier, RNNRegressor, RNNTagger)):
            raise TypeError(f"model must be a fitted supervised deepbio model (one of "
                            f"{', '.join(SUPPORTED)}), got {type(model).__name__}")
        model._check_fitted()
        self.model = model
        self.name = type(model).__name__
        self.classifier = isinstance(model, (FeedForwardClassifier, CNNClassifier,
                                             RNNClassifier, RNNTagger))
        self.per_position = isinstance(model, RNNTagger)
        self.dense = isinstance(model, (FeedForwardClassifier, FeedForwardRegressor))
        if self.dense:
            self.kind = "table"
            self.net = self._dense_network()
        else:
            self.kind = "sequence" if isinstance(model, (RNNClassifier, RNNRegressor,
                                                         RNNTagger)) \
                else model.input_type_
            self.net = model._net()
        if self.classifier:
            self.n_outputs = len(model.classes_)
        else:
            self.n_outputs = int(model.n_outputs_)

    # ------------------------------------------------------------------ the network
    def _dense_network(self):
        """A Network with the dense model's fitted weights (what ``predict`` computes)."""
        m = self.model
        act = m._hidden_activation()
        n = len(m.coefs_)
        layers = [Dense(int(W.shape[1]), act if i < n - 1 else "linear")
                  for i, W in enumerate(m.coefs_)]
        dtype = str(np.dtype(m.dtype))
        net = Network(layers, m._loss, dtype=dtype).build(int(m.coefs_[0].shape[0]), 0)
        be = current_backend()
        for layer, W, b in zip(layers, m.coefs_, m.intercepts_):
            layer.W[...] = be.asarray(to_host(W), dtype)
            layer.b[...] = be.asarray(to_host(b), dtype)
        return net

    # ------------------------------------------------------------------ inputs
    def validate(self, X, mask):
        """``(Xv, m)``: ``X`` checked as the model checks it, float64, user-shaped."""
        m = self.model
        if self.kind == "table":
            if mask is not None:
                raise ValueError(f"mask is only for sequences; {self.name} takes a table "
                                 f"(n_samples, n_features)")
            return np.asarray(to_host(m._check_X(X)), dtype=np.float64), None
        if self.kind == "image":
            return np.asarray(m._inputs(X, mask, fitting=False), dtype=np.float64), None
        # sequences: the model's checks (one-hot width, lengths for the layers) ...
        out = m._inputs(X, mask, fitting=False)
        Xin = out[0] if isinstance(out, tuple) else out
        Xin = np.asarray(Xin, dtype=np.float64)
        if tuple(Xin.shape[1:]) != tuple(self.net.input_shape):
            self.net = self._network_for(Xin.shape[1:])
        return np.ascontiguousarray(Xin[:, :, :-1]), np.ascontiguousarray(Xin[:, :, -1])

    def _network_for(self, input_shape):
        """The fitted weights in a network built for sequences of another padded length
        (sequence layers have no length-dependent parameters), as ``predict`` allows."""
        m = self.model
        layers = [layer_from_config(d["name"], d["config"]) for d in m.layers_]
        net = m._assemble(layers, tuple(int(s) for s in input_shape), 0)
        net.set_flat(self.net.get_flat())
        return net

    def net_input(self, Xv, m):
        """The network's input for validated data (the mask as the last channel)."""
        if self.kind == "sequence":
            Xv = with_mask_channel(Xv, m)
        return current_backend().asarray(np.ascontiguousarray(Xv), self.net.dtype)

    def from_net_grad(self, g):
        """The network's input gradient as a float64 array shaped like ``Xv``."""
        g = np.asarray(to_host(g), dtype=np.float64)
        return g[:, :, :-1] if self.kind == "sequence" else g

    # ------------------------------------------------------------------ targets
    def check_output(self, output):
        """The explained output's name: default, and what each kind of model allows."""
        if output is None:
            return "probability" if self.classifier else "prediction"
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS} or None, got {output!r}")
        if self.classifier and output == "prediction":
            raise ValueError(f"output='prediction' is for regressors; {self.name} is a "
                             f"classifier: use 'probability' or 'logit'")
        if not self.classifier and output != "prediction":
            raise ValueError(f"output={output!r} is for classifiers; {self.name} is a "
                             f"regressor: use 'prediction' (or None)")
        return output

    def outputs(self, Xv, m):
        """The model's outputs on validated data: class probabilities (N, K) / (N, L, K)
        or the regression output in the user's units (N, n_outputs), float64."""
        z = np.asarray(to_host(self.net.forward(self.net_input(Xv, m))), dtype=np.float64)
        return self._head(z, "probability" if self.classifier else "prediction")

    def _head(self, z, output):
        if output == "probability":
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        if output == "prediction":
            return z * self.model.y_scale_ + self.model.y_mean_
        return z

    def resolve_target(self, target, Xv, m, batch_size):
        """Target output indices: (N,) ints, or (N, L) for the tagger."""
        n = Xv.shape[0]
        if not self.classifier:
            if target is None:
                if self.n_outputs > 1:
                    raise ValueError(f"target is required: {self.name} has "
                                     f"{self.n_outputs} outputs; pass the index of the "
                                     f"output to explain (an int, or one per sample)")
                return np.zeros(n, dtype=np.int64)
            t = np.asarray(target)
            if t.dtype.kind not in "iu" or t.ndim > 1:
                raise ValueError(f"target must be an output index (int) or an array of them "
                                 f"(n_samples,) for the regressor {self.name}, got {target!r}")
            t = np.broadcast_to(t, (n,)) if t.ndim == 0 else t
            if t.shape != (n,):
                raise ValueError(f"target must have one output index per sample ({n}), got "
                                 f"shape {t.shape}")
            if (t < 0).any() or (t >= self.n_outputs).any():
                raise ValueError(f"target indices must lie in [0, {self.n_outputs}) (the "
                                 f"outputs of {self.name}), got {np.unique(t).tolist()}")
            return t.astype(np.int64)
        if target is None:
            idx = []
            for s in range(0, n, batch_size):
                sl = slice(s, s + batch_size)
                p = self.outputs(Xv[sl], None if m is None else m[sl])
                idx.append(np.argmax(p, axis=-1))
            return np.concatenate(idx).astype(np.int64)
        classes = self.model.classes_
        want = (n,) + ((Xv.shape[1],) if self.per_position else ())
        t = np.asarray(target)
        if t.ndim == 0:
            t = np.full(want, t.item())
        if t.shape != want:
            what = "(n_sequences, length)" if self.per_position else "(n_samples,)"
            raise ValueError(f"target must be one label of classes_ or an array {what} = "
                             f"{want} of them, got shape {t.shape}")
        try:
            idx = np.clip(np.searchsorted(classes, t), 0, len(classes) - 1)
            bad = np.asarray(classes[idx] != t, dtype=bool)
        except TypeError:                   # labels of another type (str vs int)
            raise ValueError(f"target holds {t.ravel()[0]!r}, which is not a class of "
                             f"{self.name} (classes_ = {classes.tolist()})") from None
        if self.per_position and m is not None:
            bad &= m > 0                    # labels on padding are ignored
        if np.any(bad):
            raise ValueError(f"target holds {t[bad].ravel()[0]!r}, which is not a class of "
                             f"{self.name} (classes_ = {classes.tolist()})")
        return idx.astype(np.int64)

    # ------------------------------------------------------------------ gradients
    def value_and_grad(self, Xv, m, target, output):
        """``(f, df/dXv)`` for a batch: ``f`` (N,) the explained scalar of each sample.

        Classifiers: ``f = p_t`` (output "probability") or ``z_t`` ("logit") for target
        class ``t``; the tagger sums that over the real positions of each sequence.
        Regressors: ``f = y_scale_t * z_t + y_mean_t``, the prediction in the user's units.
        """
        net = self.net
        held = {}

        def dz(zb):
            z = np.asarray(to_host(zb), dtype=np.float64)
            onehot = np.zeros_like(z)
            if self.per_position:
                np.put_along_axis(onehot, target[:, :, None], 1.0, axis=2)
            else:
                onehot[np.arange(z.shape[0]), target] = 1.0
            if output == "probability":
                p = self._head(z, "probability")
                pt = (p * onehot).sum(axis=-1, keepdims=True)
                d, val = pt * (onehot - p), pt[..., 0]
            elif output == "logit":
                d, val = onehot, (z * onehot).sum(axis=-1)
            else:
                scale = np.asarray(self.model.y_scale_, dtype=np.float64)
                d = onehot * scale
                val = (self._head(z, "prediction") * onehot).sum(axis=-1)
            if self.per_position:
                d = d * m[:, :, None]
                val = (val * m).sum(axis=1)
            held["f"] = val
            return d

        g, _ = net.input_gradient(self.net_input(Xv, m), dz)
        grad = self.from_net_grad(g)
        if m is not None:
            grad = grad * m[:, :, None]
        return held["f"], grad

    def values(self, Xv, m, target, output):
        """``f`` (N,) alone (one forward, no backward)."""
        z = np.asarray(to_host(self.net.forward(self.net_input(Xv, m))), dtype=np.float64)
        y = self._head(z, output)
        if self.per_position:
            val = np.take_along_axis(y, target[:, :, None], axis=2)[:, :, 0]
            return (val * m).sum(axis=1)
        return y[np.arange(y.shape[0]), target]
