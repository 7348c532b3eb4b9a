"""Hessian-free demonstrations, with assertions (fixed seeds; cost COUNTED, not timed).

Cost is counted by :class:`deepbio.optim.hf.CountingNetwork` in gradient-evaluation
equivalents per example (forward 1/3, backward 2/3, R-op 2/3): an SGD epoch over ``n``
examples costs ``n``; an HF iteration costs its gradient, preconditioner, CG products and
loss evaluations.  SGD always gets at least the budget HF used (whole epochs, rounded
up), with the best setting of a grid run at that budget (``bench/hf.py``, docs/hf.md).

What is asserted is what was measured (docs/hf.md has the numbers):

* the addition problem (Hochreiter & Schmidhuber 1997) at T = 100, Elman RNN of 100 tanh
  units: HF with structural damping reaches a held-out MAE < 0.04 within a counted
  budget at which SGD with momentum, best of its grid, does not; without structural
  damping HF does not either (slow);
* Levenberg-Marquardt damping on a real network: lambda rises after a rejected step and
  falls after a good one;
* the deep autoencoder on the bundled digits: HF trains it without pre-training; that it
  beats well-tuned SGD with momentum at an equal budget is NOT what was measured (SGD
  wins at every budget tried), recorded as a strict ``xfail``.

The configurations live here; ``bench/hf.py`` imports them to draw the curves, time the
runs and tune SGD (the grids and results are in ``docs/hf.md``).
"""
import math

import numpy as np
import pytest

import deepbio
from deepbio.datasets import load_digits, make_addition_problem
from deepbio.nn import Dense, Network
from deepbio.optim import SGD, HessianFree
from deepbio.nn import recurrent
from deepbio.optim.hf import CountingNetwork

FAST_BACKEND = "cython" if "cython" in deepbio.backends() else "numpy"


def _np(a):
    return deepbio.backend.current().to_numpy(a)


# ------------------------------------------------------------------------ runners


def run_hf(network, X, y, budget, **params):
    """HF on ``network`` until the counted cost reaches ``budget``; returns
    ``(counter, optimiser)``."""
    net = CountingNetwork(network)
    hf = HessianFree(max_iter=10**6, max_cost=budget, **params)
    hf.minimize(net, X, y)
    return net, hf


def run_sgd(network, X, y, budget, **params):
    """SGD for ceil(budget / n) epochs (at least ``budget`` counted); returns the counter."""
    net = CountingNetwork(network)
    epochs = max(1, math.ceil(budget / len(X)))
    SGD(max_epochs=epochs, **params).minimize(net, X, y)
    return net


# ------------------------------------------------------------- the autoencoder


AE_ENCODER = (256, 128, 64)
AE_CODE = 16


def digits_autoencoder(init="sparse", loss="sigmoid_cross_entropy", seed=0):
    """64-256-128-64-16-64-128-256-64, logistic hidden units, a linear 16-unit code,
    logistic outputs (through the sigmoid cross-entropy loss)."""
    layers = [Dense(u, "sigmoid", init=init) for u in AE_ENCODER]
    layers.append(Dense(AE_CODE, "linear", init=init))
    layers += [Dense(u, "sigmoid", init=init) for u in reversed(AE_ENCODER)]
    layers.append(Dense(64, "linear", init=init))
    return Network(layers, loss, dtype="float32").build(64, random_state=seed)


def digits_pixels():
    """The 1797 bundled 8x8 digits, pixels scaled to [0, 1], float32 (1797, 64)."""
    return (np.asarray(load_digits().data, dtype=np.float64) / 16.0).astype(np.float32)


def reconstruction_error(network, X):
    """Mean over examples of the summed squared pixel error of the reconstruction."""
    p = _np(network.predict(X))
    return float(((p - _np(X)) ** 2).sum(axis=1).mean())


#: counted budget of the autoencoder comparison: 300 000 gradient evaluations per
#: example = 167 epochs over the 1797 digits
AE_BUDGET = 300_000
#: HF as tuned on this problem (docs/hf.md): mini-batches of 500, curvature on 100 of
#: them, CG cut at 15 iterations, preconditioner (diag F + lambda)^1; sparse
#: initialisation (Martens 2010)
AE_HF = dict(gradient_batch_size=500, curvature_batch_size=100, cg_max_iter=15,
             precond_power=1.0, random_state=0)
#: the best of the SGD grid in docs/hf.md at AE_BUDGET (`python bench/hf.py tune-sgd`)
#: (lr 0.04 scored best on seed 0, 0.189, but stays on the plateau, 4.70, when SGD's
#: shuffling seed is 1; lr 0.02 gives 0.199-0.205 on seeds 0-2: the robust best)
AE_SGD = dict(learning_rate=0.02, momentum=0.9, batch_size=20, random_state=0)


# ---------------------------------------------------------- the addition problem


def addition_rnn(T, units=100, seed=0):
    """Elman RNN (``units`` tanh units) reading (N, T, 2), a linear output, squared error."""
    return Network([recurrent.Elman(units, "tanh"), Dense(1)], "squared_error",
                   dtype="float32").build((T, 2), random_state=seed)


def addition_data(T, n_train, n_test=1000, seed=0):
    X, y = make_addition_problem(n_train, T, random_state=seed, dtype=np.float32)
    Xt, yt = make_addition_problem(n_test, T, random_state=seed + 1000, dtype=np.float32)
    return X, y, Xt, yt


def mean_absolute_error(network, X, y):
    return float(np.abs(_np(network.predict(X)) - _np(y)).mean())


# ------------------------------------------------ damping on a real network (c)


def _damping_rule_holds(history, final_damping):
    """Levenberg-Marquardt: lambda *= 3/2 after rho < 1/4, *= 2/3 after rho > 3/4."""
    lams = [h["damping"] for h in history] + [final_damping]
    ups = downs = 0
    for h, lam_next in zip(history, lams[1:]):
        if h["rho"] < 0.25:
            assert lam_next == pytest.approx(1.5 * h["damping"])
            ups += 1
        elif h["rho"] > 0.75:
            assert lam_next == pytest.approx(h["damping"] * 2.0 / 3.0)
            downs += 1
        else:
            assert lam_next == pytest.approx(h["damping"])
    return ups, downs


def test_damping_rises_after_a_rejected_step_and_falls_after_a_good_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.sin(2 * X[:, :1]) * np.cos(X[:, 1:2]) + 0.5 * X[:, 2:3] ** 2

    def mlp():
        return Network([Dense(20, "tanh"), Dense(20, "tanh"), Dense(1)], "squared_error",
                       dtype="float64").build(5, random_state=0)

    # Almost no damping, no safety nets: the quadratic model trusts the curvature far
    # from theta, the step overshoots and the loss rises (a rejected step, rho < 0).
    net = mlp()
    hf = HessianFree(initial_damping=1e-8, preconditioner=False, backtracking=False,
                     line_search=False, cg_max_iter=200, cg_tol=1e-10, curvature_batch_size=20,
                     random_state=0)
    info = hf.step(net, X, y, X[:20], y[:20])
    assert info["rho"] < 0 and info["step_size"] == 0.0           # rejected
    assert info["loss"] == pytest.approx(info["loss_before"])     # theta kept
    assert hf.damping_ == pytest.approx(1.5e-8)                   # lambda rose

    # Heavy damping: a short, cautious step that the model predicts well (rho ~ 1).
    net = mlp()
    hf = HessianFree(initial_damping=100.0, curvature_batch_size=1.0, random_state=0)
    info = hf.step(net, X, y)
    assert info["rho"] > 0.75 and info["loss"] < info["loss_before"]
    assert hf.damping_ == pytest.approx(100.0 * 2.0 / 3.0)        # lambda fell

    # And over a whole run every update follows the rule, in both directions.
    net = mlp()
    hf = HessianFree(max_iter=25, initial_damping=1.0, curvature_batch_size=0.25,
                     gradient_batch_size=100, random_state=0)
    history = hf.minimize(net, X, y)
    ups, downs = _damping_rule_holds(history, hf.damping_)
    assert ups >= 1 and downs >= 1
    assert history[-1]["loss"] < 0.2 * history[0]["loss_before"]


# ------------------------------------------------------------- the autoencoder (a)


def test_autoencoder_hf_trains_the_deep_net_without_pretraining():
    """From the sparse initialisation, with no pre-training, HF takes the 8-layer
    autoencoder off the mean-image plateau (error ~4.7, where SGD from a Glorot
    initialisation stays) to a good reconstruction (measured 0.238 at this budget)."""
    X = digits_pixels()
    with deepbio.use_backend(FAST_BACKEND):
        net = digits_autoencoder()
        start = reconstruction_error(net, X)
        counter, hf = run_hf(net, X, X, AE_BUDGET, **AE_HF)
        err = reconstruction_error(net, X)
    assert start > 4.0
    assert AE_BUDGET <= counter.cost < AE_BUDGET + 10_000
    assert err < 0.35, err
    history = hf.history_
    assert all(h["loss"] <= h["loss_before"] + 1e-6 for h in history)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured: on the 1797 digits, SGD with momentum and sparse initialisation, tuned "
    "over the grid in docs/hf.md and checked over seeds, beats HF at every counted budget "
    "tried: reconstruction error 0.47 vs 1.18 at 7.5e4, 0.199 vs 0.238 at 3e5, 0.096 vs "
    "0.130 at 1e6, 0.050 vs 0.057 at 3e6 (SGD vs HF)"))
def test_autoencoder_hf_beats_tuned_sgd_at_equal_budget():
    X = digits_pixels()
    with deepbio.use_backend(FAST_BACKEND):
        hf_net = digits_autoencoder()
        hf_cost = run_hf(hf_net, X, X, AE_BUDGET, **AE_HF)[0].cost
        sgd_net = digits_autoencoder()
        sgd_cost = run_sgd(sgd_net, X, X, hf_cost, **AE_SGD).cost
        hf_err = reconstruction_error(hf_net, X)
        sgd_err = reconstruction_error(sgd_net, X)
    assert sgd_cost >= hf_cost
    assert hf_err < sgd_err, (hf_err, sgd_err)


# -------------------------------------------------------- the addition problem (b)


#: HF for the addition problem (Martens & Sutskever 2011; settings from the sweep in
#: docs/hf.md): gradient on 1000 sequences, curvature on 100 of them, CG cut at 15
#: iterations, no diagonal preconditioner (Martens found it does not help RNNs; here it
#: only cost budget), structural damping mu = 1/30
ADD_HF = dict(gradient_batch_size=1000, curvature_batch_size=100, cg_max_iter=15,
              preconditioner=False, structural_damping=1 / 30, random_state=0)
#: HF must reach the target within this counted budget (measured: 1.40e5; 1.7e5 and
#: 1.8e5 with seeds 1 and 2)
ADD_MAX_BUDGET = 300_000
#: the best of the SGD grid at 3e5 (docs/hf.md; at HF's budget, 1.3e5, every setting of
#: `python bench/hf.py tune-sgd-addition` is still on the plateau, MAE 0.335 or more)
ADD_SGD = dict(learning_rate=0.003, momentum=0.9, batch_size=20, clip_norm=1.0)


def _hf_until_mae(net, X, y, Xt, yt, target, budget, **params):
    """HF until the held-out MAE (bookkeeping, not counted) first drops below ``target``
    or the counted cost reaches ``budget``; returns ``(cost, mae)`` at the stop."""
    counter = CountingNetwork(net)
    seen = {}

    def watch(entry):
        seen["mae"] = mean_absolute_error(net, Xt, yt)
        return seen["mae"] < target

    HessianFree(max_iter=10**6, max_cost=budget, **params).minimize(counter, X, y,
                                                                    callback=watch)
    return counter.cost, seen["mae"]


def test_addition_T100_hf_reaches_mae_004_where_sgd_does_not():
    """Hochreiter & Schmidhuber's addition problem at T = 100: an Elman RNN of 100 tanh
    units, 10 000 training sequences, 1000 held-out ones (predicting the mean: MAE ~1/3).

    HF with structural damping reaches a held-out MAE < 0.04 (measured 0.037 at 1.40e5
    counted gradient evaluations); SGD with momentum, the best setting of its grid, given
    at least that budget, does not (measured MAE 0.336: still on the plateau).  About 30 s.
    """
    X, y, Xt, yt = addition_data(100, 10_000)
    with deepbio.use_backend(FAST_BACKEND):
        hf_net = addition_rnn(100)
        base = mean_absolute_error(hf_net, Xt, yt)
        hf_cost, hf_mae = _hf_until_mae(hf_net, X, y, Xt, yt, 0.04, ADD_MAX_BUDGET, **ADD_HF)
        sgd_net = addition_rnn(100)
        sgd_cost = run_sgd(sgd_net, X, y, hf_cost, random_state=0, **ADD_SGD).cost
        sgd_mae = mean_absolute_error(sgd_net, Xt, yt)
    assert base > 0.3
    assert hf_mae < 0.04 and hf_cost <= ADD_MAX_BUDGET, (hf_cost, hf_mae)
    assert sgd_cost >= hf_cost
    assert sgd_mae > 0.04, sgd_mae


@pytest.mark.slow
def test_addition_T100_structural_damping_is_what_gets_there():
    """The same HF without structural damping (mu = 0), given the budget within which
    HF with it reached MAE < 0.04, is still far from it (measured 0.135): the penalty
    on hidden-state changes is what keeps the long-range steps trustworthy."""
    X, y, Xt, yt = addition_data(100, 10_000)
    with deepbio.use_backend(FAST_BACKEND):
        cost, mae = _hf_until_mae(addition_rnn(100), X, y, Xt, yt, 0.04, ADD_MAX_BUDGET,
                                  **{**ADD_HF, "structural_damping": 0.0})
    assert mae > 0.08, (cost, mae)
