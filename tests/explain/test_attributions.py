"""Attributions against independent computations: finite differences of the models'
public predict / predict_proba, brute-force mutants, the completeness axiom; shapes,
masks and bad input."""
import numpy as np
import pytest

from deepbio import RBM, MLPClassifier
from deepbio._validation import NotFittedError
from deepbio.explain import attributions

KINDS = ["mlp", "mlp_regressor", "dbn", "sae", "cnn_image", "cnn_sequence", "cnn_regressor",
         "rnn", "rnn_elman", "rnn_regressor", "tagger"]
SEQUENCE_KINDS = ["cnn_sequence", "cnn_regressor", "rnn", "rnn_elman", "rnn_regressor",
                  "tagger"]


def _f(model, X, mask, target):
    """The explained scalar per sample, from the model's PUBLIC predictions: the target
    class's probability, the target output's prediction, or (tagger) the sum over real
    positions of each position's target-class probability."""
    kw = {} if mask is None else {"mask": mask}
    if hasattr(model, "classes_"):
        p = model.predict_proba(X, **kw)
        if p.ndim == 3:
            return (np.take_along_axis(p, target[:, :, None], axis=2)[:, :, 0]
                    * mask).sum(axis=1)
        return p[np.arange(len(p)), target]
    out = model.predict(X, **kw)
    out = out.reshape(len(out), -1)
    return out[np.arange(len(out)), target]


def _default_target(model, X, mask):
    kw = {} if mask is None else {"mask": mask}
    if hasattr(model, "classes_"):
        return np.argmax(model.predict_proba(X, **kw), axis=-1)
    return np.zeros(len(X), dtype=int)


def _target_arg(kind, model, t):
    """The ``target`` argument naming output indices ``t`` (labels for classifiers)."""
    return model.classes_[t] if hasattr(model, "classes_") else t


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_equals_finite_differences(fitted, numpy_backend, kind):
    model, X, mask = fitted[kind]
    target = _default_target(model, X, mask)
    if kind == "mlp_regressor":
        target = np.array([0, 1, 0, 1, 0, 1])
    G = attributions(model, X, "gradient", target=_target_arg(kind, model, target), mask=mask)
    assert G.shape == X.shape and G.dtype == np.float64
    eps = 1e-6
    fd = np.zeros_like(X)
    for idx in np.ndindex(*X.shape[1:]):
        if mask is not None and not mask[:, idx[0]].any():
            continue
        Xp, Xm = X.copy(), X.copy()
        Xp[(slice(None),) + idx] += eps
        Xm[(slice(None),) + idx] -= eps
        fd[(slice(None),) + idx] = (_f(model, Xp, mask, target)
                                    - _f(model, Xm, mask, target)) / (2 * eps)
    if mask is not None:
        fd *= mask[:, :, None]            # padding: the model zeroes it, so f ignores it
        assert np.all(G[~mask.astype(bool)] == 0)
    scale = max(np.abs(fd).max(), 1e-3)
    np.testing.assert_allclose(G, fd, atol=1e-6 * scale + 1e-9, rtol=1e-5)
    assert np.abs(G).max() > 0


def test_default_target_is_the_predicted_class(fitted, numpy_backend):
    model, X, _ = fitted["mlp"]
    pred = model.predict(X)
    np.testing.assert_array_equal(attributions(model, X), attributions(model, X, target=pred))


def test_logit_output_is_the_gradient_of_the_score(fitted, numpy_backend):
    """For softmax, z_1 - z_0 = log p_1 - log p_0: the difference of the two 'logit'
    attributions equals finite differences of the log odds from predict_proba."""
    model, X, mask = fitted["cnn_sequence"]
    g1 = attributions(model, X, target=model.classes_[1], mask=mask, output="logit")
    g0 = attributions(model, X, target=model.classes_[0], mask=mask, output="logit")
    eps, fd = 1e-6, np.zeros_like(X)
    for l, a in np.ndindex(*X.shape[1:]):
        Xp, Xm = X.copy(), X.copy()
        Xp[:, l, a] += eps
        Xm[:, l, a] -= eps
        lp = np.log(model.predict_proba(Xp, mask=mask))
        lm = np.log(model.predict_proba(Xm, mask=mask))
        fd[:, l, a] = ((lp[:, 1] - lp[:, 0]) - (lm[:, 1] - lm[:, 0])) / (2 * eps)
    np.testing.assert_allclose(g1 - g0, fd * mask[:, :, None], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_x_input_is_input_times_gradient(fitted, numpy_backend, kind):
    model, X, mask = fitted[kind]
    t = None if kind != "mlp_regressor" else 1
    G = attributions(model, X, "gradient", target=t, mask=mask)
    np.testing.assert_allclose(attributions(model, X, "gradient_x_input", target=t, mask=mask),
                               G * X, rtol=0, atol=0)


#: Models whose output has kinks along the path (the global max pool of the sequence
#: CNNs switches position): the integrand of IG jumps there, so the trapezoid rule's
#: error falls as 1 / n_steps; elsewhere it is smooth and the error falls as 1 / n_steps^2.
KINKED = ("cnn_sequence", "cnn_regressor")


@pytest.mark.parametrize("kind", KINDS)
def test_integrated_gradients_completeness_converges(fitted, numpy_backend, kind):
    """sum_i A_i = f(x) - f(x') (Sundararajan et al. 2017, completeness), with f from the
    public predictions; the error falls at the trapezoid rule's order as n_steps grows."""
    model, X, mask = fitted[kind]
    target = _default_target(model, X, mask)
    t = _target_arg(kind, model, target)
    base = np.zeros_like(X)
    gap = _f(model, X, mask, target) - _f(model, base, mask, target)
    errors = []
    for n_steps in (8, 64, 512):
        A, delta = attributions(model, X, "integrated_gradients", target=t, mask=mask,
                                n_steps=n_steps, return_delta=True, batch_size=37)
        assert A.shape == X.shape
        err = A.reshape(len(X), -1).sum(axis=1) - gap
        np.testing.assert_allclose(delta, err, atol=1e-10)
        errors.append(np.abs(err).max())
    scale = max(np.abs(gap).max(), 1e-3)
    order = 1 if kind in KINKED else 2
    # at 512 steps: within 1 / 512 of the gap where the rule is first order, 1e-3 else
    assert errors[2] <= scale * (1 / 512 if order == 1 else 1e-3), errors
    if errors[2] > 1e-12:                       # above rounding: the rate is visible
        assert errors[1] / errors[2] >= 0.75 * 8 ** order, errors
        assert errors[0] / errors[1] >= 0.75 * 8 ** order, errors


def test_integrated_gradients_with_a_background_baseline(fitted, numpy_backend):
    model, X, mask = fitted["cnn_sequence"]
    base = np.full(X.shape[1:], 0.25)                     # one sample's shape: broadcast
    t = model.predict(X, mask=mask)
    A, delta = attributions(model, X, "integrated_gradients", target=t, mask=mask,
                            baseline=base, n_steps=2000, return_delta=True)
    idx = np.searchsorted(model.classes_, t)
    gap = (_f(model, X, mask, idx)
           - _f(model, np.broadcast_to(base, X.shape) * mask[:, :, None], mask, idx))
    err = A.reshape(len(X), -1).sum(axis=1) - gap
    np.testing.assert_allclose(delta, err, atol=1e-10)     # f(x') on the padded baseline
    assert np.abs(err).max() <= 1e-3 * np.abs(gap).max()
    assert np.all(A[~mask] == 0)


@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
def test_ism_equals_brute_force_mutants(fitted, numpy_backend, kind):
    model, X, mask = fitted[kind]
    target = _default_target(model, X, mask)
    t = model.classes_[target] if hasattr(model, "classes_") else 0
    M = attributions(model, X, "ism", target=t, mask=mask, batch_size=7)
    assert M.shape == X.shape
    ref = _f(model, X, mask, target)
    want = np.zeros_like(X)
    for n in range(len(X)):
        for l in range(X.shape[1]):
            if not mask[n, l]:
                continue
            for a in range(X.shape[2]):
                mut = X[n:n + 1].copy()
                mut[0, l] = np.eye(X.shape[2])[a]
                want[n, l, a] = _f(model, mut, mask[n:n + 1], target[n:n + 1])[0] - ref[n]
    np.testing.assert_allclose(M, want, atol=1e-12)
    assert np.all(M[X.astype(bool)] == 0)          # the base already there: no change
    assert np.abs(M).max() > 0


def test_images_keep_their_shape(fitted, numpy_backend):
    model, X, _ = fitted["cnn_image"]
    for method in ("gradient", "gradient_x_input", "integrated_gradients"):
        assert attributions(model, X, method, n_steps=4).shape == X.shape


def test_tagger_targets_per_position(fitted, numpy_backend):
    model, X, mask = fitted["tagger"]
    one = attributions(model, X, target=model.classes_[1], mask=mask)
    per = attributions(model, X, target=np.full(mask.shape, model.classes_[1]), mask=mask)
    np.testing.assert_array_equal(one, per)


def test_float32_models_agree_with_float64(fitted, numpy_backend):
    model, X, _ = fitted["mlp"]
    m32 = MLPClassifier((6,), activation="tanh", max_iter=3, random_state=0)
    m32.fit(np.random.default_rng(0).normal(size=(30, 5)),
            np.random.default_rng(0).integers(0, 3, size=30))
    A = attributions(m32, X, "integrated_gradients", target=0, n_steps=20)
    assert A.dtype == np.float64 and np.isfinite(A).all()


# ------------------------------------------------------------------- bad input


def test_unfitted_and_unsupported_models(numpy_backend):
    X = np.zeros((3, 4))
    with pytest.raises(NotFittedError, match="not fitted"):
        attributions(MLPClassifier(), X)
    rbm = RBM(n_components=2, n_iter=1, random_state=0).fit(np.ones((4, 4)))
    with pytest.raises(TypeError, match="supervised deepbio model.*RBM"):
        attributions(rbm, X)


def test_bad_arguments(fitted, numpy_backend):
    mlp, X, _ = fitted["mlp"]
    with pytest.raises(ValueError, match="method"):
        attributions(mlp, X, method="saliency")
    with pytest.raises(ValueError, match="5 features"):
        attributions(mlp, X[:, :4])
    with pytest.raises(ValueError, match="ism.*one-hot sequences.*a table"):
        attributions(mlp, X, method="ism")
    with pytest.raises(ValueError, match="baseline is used by method='integrated_gradients'"):
        attributions(mlp, X, baseline=np.zeros(5))
    with pytest.raises(ValueError, match=r"baseline must be shaped like X \(6, 5\)"):
        attributions(mlp, X, method="integrated_gradients", baseline=np.zeros(4))
    with pytest.raises(ValueError, match="not a class"):
        attributions(mlp, X, target=7)
    with pytest.raises(ValueError, match="n_steps"):
        attributions(mlp, X, method="integrated_gradients", n_steps=0)
    with pytest.raises(ValueError, match="mask is only for sequences"):
        attributions(mlp, X, mask=np.ones((6, 5), bool))
    with pytest.raises(ValueError, match="output='prediction' is for regressors"):
        attributions(mlp, X, output="prediction")
    with pytest.raises(ValueError, match="return_delta is for"):
        attributions(mlp, X, return_delta=True)
    reg, Xr, _ = fitted["mlp_regressor"]
    with pytest.raises(ValueError, match="target is required.*2 outputs"):
        attributions(reg, Xr)
    with pytest.raises(ValueError, match=r"target indices must lie in \[0, 2\)"):
        attributions(reg, Xr, target=2)


def test_ism_refuses_soft_encodings(fitted, numpy_backend):
    model, X, mask = fitted["cnn_sequence"]
    soft = X.copy()
    soft[1, 2] = [0.5, 0.5, 0, 0]
    with pytest.raises(ValueError, match="sequence 1 has .* at position 2"):
        attributions(model, soft, "ism", mask=mask)
    img, Xi, _ = fitted["cnn_image"]
    with pytest.raises(ValueError, match="ism.*images"):
        attributions(img, Xi, "ism")
    with pytest.raises(ValueError, match="3 features per position.*fitted with 4"):
        attributions(model, X[:, :, :3], mask=mask)


@pytest.mark.parametrize("kind", ["mlp", "cnn_image", "cnn_sequence", "rnn", "tagger"])
def test_every_backend_agrees_with_numpy(fitted, backend, kind):
    """The attributions go through the active backend's kernels (float64: to rounding)."""
    import deepbio
    model, X, mask = fitted[kind]
    with deepbio.use_backend("numpy"):
        ref = attributions(model, X, "integrated_gradients", mask=mask, n_steps=4)
    with deepbio.use_backend(backend.name):
        got = attributions(model, X, "integrated_gradients", mask=mask, n_steps=4)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["cnn_sequence", "rnn", "tagger"])
@pytest.mark.parametrize("method", ["gradient", "integrated_gradients", "ism"])
def test_longer_padding_changes_nothing(fitted, numpy_backend, kind, method):
    """Sequences padded to another length than at fit (as predict allows): the same
    attributions on the real positions, zeros on the extra padding."""
    model, X, mask = fitted[kind]
    longer = np.concatenate([X, np.zeros((len(X), 4, X.shape[2]))], axis=1)
    mlong = np.concatenate([mask, np.zeros((len(X), 4), bool)], axis=1)
    kw = dict(method=method, n_steps=8)
    a = attributions(model, X, mask=mask, **kw)
    b = attributions(model, longer, mask=mlong, **kw)
    assert b.shape == longer.shape
    np.testing.assert_allclose(b[:, :X.shape[1]], a, atol=1e-12)
    assert np.all(b[:, X.shape[1]:] == 0)
