"""The base of the estimators built on a :class:`deepbio.nn.Network` of any layers (CNN,
RNN): network construction, fitting, prediction in batches, and the masked classifier
mixin."""
import threading
import weakref

import numpy as np

from .._validation import check_sample_weight
from ..nn import Network, layer_from_config
from ..nn.losses import MaskedSoftmaxCrossEntropy
from ._base import (BaseEstimator, ClassifierMixin, current_backend, resolve_rng, to_backend,
                    to_host)
from ._checks import check_labels
from ._training import DeterministicWithHF, child_seed, make_optimizer, partial_epoch

__all__ = ["LayeredEstimator", "MaskedClassifierMixin"]

PREDICT_BATCH = 512

# One lock per fitted model, held while its network runs a forward pass for prediction:
# the layers of a Network keep per-call state (the SequenceMask hands each batch's mask
# to the layers after it, layers cache their inputs), so two threads predicting with one
# model at the same time would mix their batches.  Kept outside the estimator, so that
# it pickles, deep-copies and clones as before; forgotten with the estimator.
_PREDICT_LOCKS = weakref.WeakKeyDictionary()
_PREDICT_LOCKS_GUARD = threading.Lock()


def _predict_lock(est):
    """The lock that serialises ``est``'s forward passes for prediction."""
    with _PREDICT_LOCKS_GUARD:
        lock = _PREDICT_LOCKS.get(est)
        if lock is None:
            lock = _PREDICT_LOCKS[est] = threading.Lock()
    return lock


# ----------------------------------------------------------------------- shared base


class LayeredEstimator(DeterministicWithHF, BaseEstimator):
    """An estimator around a :class:`deepbio.nn.Network` of any layers, trained by SGD.

    Subclasses implement ``_make_layers(input_shape, n_out) -> list of Layer`` (the last
    one linear) and set ``_loss`` (a loss name, or ``"masked_softmax_cross_entropy"``).
    The fitted network is kept as ``layers_`` / ``params_`` / ``input_shape_`` (plain
    JSON and arrays, so :mod:`deepbio.io` can save it) and rebuilt on demand.
    """

    _loss = None
    #: sequences (N, L, D) or images (N, C, H, W), never a 2-d table: the scikit-learn
    #: tags say ``two_d_array=False, three_d_array=True`` (docs/models/defaults.md)
    _input_ndim = 3

    def _partial_start(self, X, mask):
        """``partial_fit``'s opening: the hyper-parameters are checked (at every call),
        then ``(first, inputs)``: whether this call builds the network, and ``X`` (with
        ``mask``) checked by ``_inputs``."""
        self._validate_params()
        first = not hasattr(self, "layers_")
        return first, self._inputs(X, mask, fitting=first)

    def _assemble(self, layers, input_shape, seed):
        loss = (MaskedSoftmaxCrossEntropy() if self._loss == MaskedSoftmaxCrossEntropy.name
                else self._loss)
        # (a leading SequenceMask is wired to the layers after it by Network itself)
        return Network(layers, loss, dtype=str(np.dtype(self.dtype))).build(input_shape, seed)

    def _store(self, net):
        self.input_shape_ = tuple(int(s) for s in net.input_shape)
        self.layers_ = [{"name": type(layer).__name__, "config": layer.get_config()}
                        for layer in net.layers]
        self.params_ = [to_host(p).copy() for layer in net.layers for p in layer.params]
        self._cache_net = net

    def _net(self):
        """The fitted network on the active backend (rebuilt from ``layers_`` if needed)."""
        be = current_backend()
        net = getattr(self, "_cache_net", None)
        if net is None or not isinstance(net.theta, be.array_type):
            layers = [layer_from_config(d["name"], d["config"]) for d in self.layers_]
            net = self._assemble(layers, self.input_shape_, 0)
            if self.params_:
                net.set_flat(np.concatenate([np.ravel(p) for p in self.params_]))
            self._cache_net = net
        return net

    def _train(self, Xin, T, rng, n_out, metric=None, **checkpointing):
        """Build the network and train it (``checkpointing``: ``fit``'s ``checkpoint``,
        ``checkpoint_every`` and ``resume``, for the optimiser's ``minimize``)."""
        layers = self._make_layers(Xin.shape[1:], n_out)
        net = self._assemble(layers, Xin.shape[1:], child_seed(rng))
        be = current_backend()
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, be.asarray(Xin, net.dtype), be.asarray(T, net.dtype),
                                     metric=metric, **checkpointing)
        self.n_iter_ = len(self.history_)
        self._optimizer = sgd
        self._store(net)

    def _partial_train(self, Xin, T, n_out, first):
        """One optimiser epoch over ``(Xin, T)`` from the current weights (built on first call)."""
        if first:
            rng = resolve_rng(self.random_state)
            net = self._assemble(self._make_layers(Xin.shape[1:], n_out), Xin.shape[1:],
                                 child_seed(rng))
            self._store(net)
            self._optimizer = make_optimizer(self, child_seed(rng), max_epochs=1,
                                                  early_stopping=False)
            self.history_, self.n_iter_ = [], 0
        net = self._net()
        if tuple(net.input_shape) != tuple(Xin.shape[1:]):
            # sequences of another padded length: the same weights in a network built
            # for this length (sequence layers have no length-dependent parameters)
            theta = net.get_flat()
            layers = [layer_from_config(d["name"], d["config"]) for d in self.layers_]
            net = self._assemble(layers, Xin.shape[1:], 0)
            net.set_flat(theta)
        partial_epoch(self, net, Xin, T)
        self._store(net)

    def _output(self, Xin):
        """``g(z)`` of the fitted network (class probabilities or regression output), as a
        NumPy array; in batches, through the layers directly so any sequence length works.

        Thread-safe: calls from several threads on one model take turns (the network's
        layers hold the batch in flight, see :func:`_predict_lock`), so each gets what a
        serial call gives; for parallel prediction give each thread its own copy
        (``copy.deepcopy(model)``)."""
        be = current_backend()
        outs = []
        with _predict_lock(self):
            net = self._net()
            for start in range(0, Xin.shape[0], PREDICT_BATCH):
                a = to_backend(be, Xin[start:start + PREDICT_BATCH], net.dtype)
                for layer in net.layers:
                    a = layer.forward(a, train=False)
                outs.append(to_host(net.loss_fn.output(a)))
        return np.concatenate(outs, axis=0)

    @property
    def network_(self):
        """The fitted :class:`deepbio.nn.Network` (rebuilt on the active backend)."""
        self._check_fitted()
        return self._net()


class MaskedClassifierMixin(ClassifierMixin):
    """:class:`ClassifierMixin` for the CNN / RNN classifiers, whose inputs take a
    ``mask``: ``predict`` and ``score`` pass it on; ``score`` checks ``y`` as
    :func:`check_labels` and ``sample_weight`` as ``ClassifierMixin.score`` does."""

    def predict(self, X, mask=None):
        """Most probable class of every image or sequence, shape (N,)."""
        proba = self.predict_proba(X, mask)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, mask=None, sample_weight=None):
        """Mean accuracy of ``predict(X, mask)`` against ``y`` (weighted by
        ``sample_weight``, shape (N,))."""
        pred = self.predict(X, mask)
        y = check_labels(y, pred.shape[0])
        w = check_sample_weight(sample_weight, y.shape[0])
        return float(np.average(pred == y, weights=w))


