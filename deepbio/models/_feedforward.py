"""Feed-forward estimators: dense hidden layers fine-tuned end to end.

* :class:`FeedForwardEstimator`: a stack of dense layers plus an output layer, trained
  end to end by :class:`deepbio.optim.SGD`; MLPs, DBN and stacked-autoencoder
  classifiers / regressors derive from it and differ only in how they initialise the
  hidden layers (randomly, from RBMs, from autoencoders).

After ``fit`` the weights live in ``coefs_`` (list of (D_in, D_out) arrays) and
``intercepts_`` (list of (D_out,) arrays); prediction runs the ``dense_forward`` kernel
layer by layer on them, so a model loaded from a file needs no ``Network`` to predict.
"""
import numpy as np

from .._validation import IntSequence, check_X_y, float_dtype_name
from ..nn import Dense, Dropout, Network
from ._base import (BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin,
                    current_backend, resolve_rng, to_backend, to_host)
from ._training import (SGD_CONSTRAINTS, DeterministicWithHF, _accuracy_metric, child_seed,
                        fit_target_scaling, hidden_sizes, make_optimizer, one_hot_labels,
                        partial_epoch)

class FeedForwardEstimator(DeterministicWithHF, TransformerMixin, BaseEstimator):
    """Dense hidden layers + a linear output layer + a matching loss, fine-tuned by SGD.

    Subclasses provide ``_hidden_activation()`` and may override ``_pretrain(X, rng)``
    to return initial ``(W, b)`` for every hidden layer.  ``_output`` (class attribute)
    is the loss: ``"softmax_cross_entropy"`` or ``"squared_error"``.  ``transform``
    gives the last hidden layer's activations (``fit_transform`` from
    :class:`TransformerMixin`).
    """

    _parameter_constraints = dict(SGD_CONSTRAINTS,
                                  hidden_layer_sizes=[IntSequence(1, allow_empty=True)])
    _loss = None

    def _hidden_activation(self):
        return self.activation

    def _pretrain(self, X, rng):
        """Initial ``[(W, b), ...]`` for the hidden layers, or None for random ones."""
        return None

    # ------------------------------------------------------------------ the network
    def _network_settings(self):
        """The hyper-parameters a training network is built from, besides the sizes."""
        return {"activation": self._hidden_activation(), "dropout": self.dropout,
                "dtype": float_dtype_name(self.dtype)}

    def _build_network(self, n_in, n_out, seed, init=None):
        """A built Network; hidden layers set from ``init`` ([(W, b)]) when given."""
        self._built_with = self._network_settings()
        layers = []
        act = self._hidden_activation()
        for units in hidden_sizes(self.hidden_layer_sizes):
            layers.append(Dense(units, act))
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(n_out, "linear"))
        net = Network(layers, self._loss, dtype=str(np.dtype(self.dtype))).build(n_in, seed)
        if init is not None:
            dense = [layer for layer in net.layers if isinstance(layer, Dense)]
            be = current_backend()
            for layer, (W, b) in zip(dense, init):
                layer.W[...] = to_backend(be, W, net.dtype)
                layer.b[...] = to_backend(be, b, net.dtype)
        return net

    def _store(self, net):
        dense = [layer for layer in net.layers if isinstance(layer, Dense)]
        self.coefs_ = [layer.W for layer in dense]
        self.intercepts_ = [layer.b for layer in dense]
        self._network = net

    def _check_hidden_sizes(self):
        """ValueError if ``hidden_layer_sizes`` no longer matches the fitted weights
        (``set_params`` after ``fit``): ``partial_fit`` cannot continue then."""
        fitted = tuple(W.shape[1] for W in self.coefs_[:-1])
        if hidden_sizes(self.hidden_layer_sizes) != fitted:
            raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} does not match "
                             f"the fitted network of {type(self).__name__}, built with "
                             f"hidden layers of {fitted} units; call fit to build and train "
                             f"a new network")

    def _network_for_update(self, n_in, n_out):
        """The training network: the cached one, or one rebuilt from ``coefs_`` (also
        when ``activation``, ``dropout`` or ``dtype`` changed since it was built)."""
        self._check_hidden_sizes()
        net = getattr(self, "_network", None)
        if (net is None or net.theta.__class__ is not current_backend().array_type
                or getattr(self, "_built_with", None) != self._network_settings()):
            net = self._build_network(n_in, n_out, 0,
                                      list(zip(self.coefs_[:-1], self.intercepts_[:-1])))
            dense = [layer for layer in net.layers if isinstance(layer, Dense)]
            be = current_backend()
            dense[-1].W[...] = to_backend(be, self.coefs_[-1], net.dtype)
            dense[-1].b[...] = to_backend(be, self.intercepts_[-1], net.dtype)
            self._store(net)
        return net

    def fit(self, X, y, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on ``X`` (n_samples, n_features) and targets ``y``: class labels of any type
        (n_samples,) for a classifier, real values (n_samples,) or (n_samples, n_outputs)
        for a regressor.

        Pre-training (a subclass hook: RBMs for a DBN, autoencoders for a stacked
        autoencoder, none for an MLP) initialises the hidden layers; the optimiser then
        fine-tunes the whole network on the encoded targets.  Checkpoints cover the
        fine-tuning; a resumed fit repeats the (deterministic) pre-training.

        Parameters
        ----------
        checkpoint, checkpoint_every, resume
            Checkpoint and resume (docs/reliability.md): write a training checkpoint to
            the path ``checkpoint`` every ``checkpoint_every`` epochs (atomically; the
            previous one kept as ``PATH.prev``), or continue the fit from the checkpoint
            ``resume`` (same data, settings and ``random_state``: the weights then equal
            those of an uninterrupted fit).

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_feature_names(X, reset=True)
        X, T, n_out, metric = self._fit_targets(X, y)
        self.n_features_in_ = X.shape[1]
        rng = resolve_rng(self.random_state)
        init = self._pretrain(X, rng)
        net = self._build_network(X.shape[1], n_out, child_seed(rng), init)
        be = current_backend()
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, be.asarray(X, net.dtype), be.asarray(T, net.dtype),
                                     metric=metric, checkpoint=checkpoint,
                                     checkpoint_every=checkpoint_every, resume=resume)
        self.n_iter_ = len(self.history_)
        self._store(net)
        self._optimizer = sgd
        return self

    def _partial_train(self, X, T, n_out, first):
        """One optimiser epoch over ``(X, T)``, continuing from the current weights."""
        if first:
            rng = resolve_rng(self.random_state)
            net = self._build_network(X.shape[1], n_out, child_seed(rng), None)
            self._store(net)
            self._optimizer = make_optimizer(self, child_seed(rng), max_epochs=1,
                                                  early_stopping=False)
            self.history_ = []
            self.n_iter_ = 0
        net = self._network_for_update(X.shape[1], n_out)
        partial_epoch(self, net, X, T)

    # ------------------------------------------------------------------ prediction
    def _forward(self, X, upto=None):
        """Outputs of the output layer (``upto=None``) or of hidden layer ``upto``."""
        be = current_backend()
        K = be.kernels
        a = be.asarray(X, self.dtype)
        n_layers = len(self.coefs_)
        acts = [self._hidden_activation()] * (n_layers - 1) + ["linear"]
        stop = n_layers if upto is None else upto + 1
        for W, b, act in list(zip(self.coefs_, self.intercepts_, acts))[:stop]:
            a = K.dense_forward(a, to_backend(be, W, self.dtype),
                                to_backend(be, b, self.dtype), act)
        return a

    def _n_features_out(self):
        return int(self.coefs_[-2].shape[1]) if len(self.coefs_) >= 2 else 0

    def transform(self, X):
        """Activations of the last hidden layer after fine-tuning, (n_samples, units)."""
        X = self._check_X(X)
        if len(self.coefs_) < 2:
            raise ValueError(f"{type(self).__name__} has no hidden layer to transform with")
        return to_host(self._forward(X, upto=len(self.coefs_) - 2))


class FeedForwardClassifier(ClassifierMixin, FeedForwardEstimator):
    """Softmax output (two units for binary problems) + cross-entropy."""

    _loss = "softmax_cross_entropy"

    def _one_hot(self, y_enc):
        return one_hot_labels(y_enc, len(self.classes_), self.dtype)

    def _fit_targets(self, X, y):
        """Check ``X``, learn ``classes_``; the one-hot targets, their width, the metric."""
        X, y_enc = self._encode_labels(X, y)
        return X, self._one_hot(y_enc), len(self.classes_), _accuracy_metric

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order;
        float64 whatever the network's ``dtype`` (as the CNN and RNN models return)."""
        X = self._check_X(X)
        be = current_backend()
        return to_host(be.kernels.activation_forward(self._forward(X), "softmax")) \
            .astype(np.float64)


class FeedForwardRegressor(RegressorMixin, FeedForwardEstimator):
    """Linear output + squared error.  Targets are standardised internally
    (``y_mean_``, ``y_scale_``) and predictions mapped back."""

    _loss = "squared_error"

    def _fit_targets(self, X, y):
        """Check ``X`` and ``y``, learn the target scaling; the standardised targets."""
        X, y = check_X_y(X, y, y_numeric=True, multi_output=True, estimator=self)
        Y = self._fit_target_scaling(y)
        return X, (Y - self.y_mean_) / self.y_scale_, Y.shape[1], None

    def _fit_target_scaling(self, y):
        """Learn ``y_mean_`` / ``y_scale_`` from ``y``; return it as (n_samples, n_outputs)."""
        return fit_target_scaling(self, y)

    def predict(self, X):
        """Predicted targets, shape (n_samples,) (or (n_samples, n_outputs))."""
        X = self._check_X(X)
        out = to_host(self._forward(X)).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.target_ndim_ == 1 else out
