"""Hessian-free benchmarks: the cost of a Gauss-Newton product, the demos' curves, and the
SGD tuning grids behind the comparisons in ``docs/hf.md``.

Run from the repository root (the demo configurations are imported from
``tests/optim/test_hf_demos.py``, so the numbers here are those of the tests)::

    python bench/hf.py cost                       # GN product vs gradient, HF iteration
    python bench/hf.py tune-sgd                   # SGD grid on the digits autoencoder
    python bench/hf.py autoencoder                # HF vs the best SGD: curves
    python bench/hf.py addition --T 100 --opt hf  # one addition-problem run, its curve
    python bench/hf.py tune-sgd-addition          # SGD grid on the addition problem
    python bench/hf.py pathological --problems addition temporal_order --T 100
                                                  # Martens & Sutskever's problems:
                                                  # fraction of seeds reaching the
                                                  # criterion, HF +- structural damping
                                                  # vs momentum SGD, equal counted budget
    python bench/hf.py torch-addition --T 100     # PyTorch LSTM + Adam, same data, to
                                                  # held-out MAE < 0.04 (needs torch)

Every command takes ``--backend`` (default: cython when built).  Set
``OMP_NUM_THREADS=1`` on a shared machine: oversubscribed OpenMP / BLAS threads make
every timing meaningless.
"""
import argparse
import itertools
import json
import math
import os
import sys
import time

# deepbio's own default (see deepbio/__init__.py), set here too because this script
# imports NumPy before deepbio: short OpenBLAS spins, so NumPy's and SciPy's BLAS thread
# teams hand the cores over instead of stalling each other.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import deepbio  # noqa: E402
from deepbio.optim import SGD, HessianFree  # noqa: E402
from deepbio.optim.hf import CountingNetwork  # noqa: E402
from tests.optim import test_hf_demos as demos  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import time_us  # noqa: E402


def _median_seconds(f, repeat):
    """Median seconds of ``f()`` over ``repeat`` calls after one warm-up call."""
    return time_us(f, repeat, warmup=1, quiet=0) / 1e6


# ------------------------------------------------------------------------ cost


def _hf_iteration(net, X, y, params, iterations):
    """Median wall time and mean counted cost of one HF iteration with ``params`` (after
    one warm-up iteration); ``net`` is left as it was."""
    theta = net.get_flat()
    counter = CountingNetwork(net)
    hist = HessianFree(max_iter=iterations + 1, **{"random_state": 0, **params}).minimize(
        counter, X, y)
    net.set_flat(theta)
    times = np.diff([h["time"] for h in hist])
    costs = np.diff([h["cost"] for h in hist])
    cg = np.mean([h["cg_iters"] for h in hist[1:]])
    return float(np.median(times)), float(np.mean(costs)), float(cg)


def cost(args):
    """Median times of loss_and_grad, gauss_newton_product (first product of a CG run, with
    its forward, and later ones, reusing it), squared_example_grads and one HF iteration
    (defaults, and the demo's settings), in units of one loss_and_grad on the same batch."""
    rows = []
    X = demos.digits_pixels()
    cases = [("autoencoder 64-256-128-64-16 (x2)", demos.digits_autoencoder(), X, X,
              demos.AE_HF)]
    Xa, ya, _, _ = demos.addition_data(args.T, 1000, n_test=1)
    cases.append((f"Elman RNN 100 tanh, T={args.T}", demos.addition_rnn(args.T), Xa, ya,
                  demos.ADD_HF))
    rng = np.random.default_rng(0)
    for name, net, Xb, yb, demo in cases:
        Xc, yc = Xb[:len(Xb) // 10], yb[:len(Xb) // 10]
        v = rng.standard_normal(net.n_params).astype(np.float32)
        g = _median_seconds(lambda: net.loss_and_grad(Xc, yc), args.repeat)

        def fresh():
            net.forward(Xc[:1])            # invalidates the cached forward
            net.gauss_newton_product(v, Xc, yc)

        gn_first = _median_seconds(fresh, args.repeat)
        net.gauss_newton_product(v, Xc, yc)
        gn = _median_seconds(lambda: net.gauss_newton_product(v, Xc, yc), args.repeat)
        sq = _median_seconds(lambda: net.squared_example_grads(Xc, yc), max(1, args.repeat // 2))
        # HF iterations, in units of one loss_and_grad on their gradient batch
        its = []
        for label, params in (("defaults", dict(curvature_batch_size=0.1)), ("demo", demo)):
            nb = params.get("gradient_batch_size") or len(Xb)
            g_batch = _median_seconds(lambda: net.loss_and_grad(Xb[:nb], yb[:nb]),
                                   max(1, args.repeat // 2))
            it, counted, ncg = _hf_iteration(net, Xb, yb, params, args.iterations)
            its.append((label, nb, it / g_batch, counted / nb, ncg))
        rows.append((name, len(Xc), g, gn_first, gn, sq, its))
    print(f"backend {deepbio.backend.current().name}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, median of {args.repeat}")
    print("| network | batch | loss_and_grad | GN product (with its forward) | GN product "
          "(forward reused) | squared_example_grads |")
    print("|---|---|---|---|---|---|")
    for (name, nc, g, gnf, gn, sq, _) in rows:
        print(f"| {name} | {nc} | {g * 1e3:.1f} ms = 1 | {gnf * 1e3:.1f} ms = {gnf / g:.2f} | "
              f"{gn * 1e3:.1f} ms = {gn / g:.2f} | {sq * 1e3:.1f} ms = {sq / g:.2f} |")
    print()
    print(f"One HF iteration (median of {args.iterations}), in gradient evaluations on its "
          f"gradient batch:")
    print("| network | settings | gradient batch | mean CG iterations | measured | counted |")
    print("|---|---|---|---|---|---|")
    for (name, *_, its) in rows:
        for label, nb, measured, counted, ncg in its:
            print(f"| {name} | {label} | {nb} | {ncg:.0f} | {measured:.1f} | {counted:.1f} |")


# ---------------------------------------------------------------- autoencoder


def _ae_curve(run, budget, marks):
    X = demos.digits_pixels()
    net = demos.digits_autoencoder()
    out, t0 = {}, time.perf_counter()
    counter = CountingNetwork(net)

    def note(cost):
        for b in marks:
            if cost >= b and b not in out:
                out[b] = demos.reconstruction_error(net, X)

    run(counter, X, note)
    out["final"] = demos.reconstruction_error(net, X)
    out["cost"] = counter.cost
    out["time"] = time.perf_counter() - t0
    return out


def _sgd_runner(budget, params, seed=0):
    def run(counter, X, note):
        epochs = max(1, math.ceil(budget / len(X)))
        try:
            SGD(max_epochs=epochs, **{"random_state": seed, **params}).minimize(
                counter, X, X, callback=lambda e: note(counter.cost))
        except FloatingPointError:
            pass
    return run


def _sgd_timed_runner(seconds, params, seed=0):
    """SGD for ``seconds`` of wall time (checked after every epoch), whatever it counts."""
    def run(counter, X, note):
        t0 = time.perf_counter()
        try:
            SGD(max_epochs=10**6, **{"random_state": seed, **params}).minimize(
                counter, X, X, callback=lambda e: time.perf_counter() - t0 >= seconds)
        except FloatingPointError:
            pass
    return run


def _hf_runner(budget, params, seed=0):
    def run(counter, X, note):
        HessianFree(max_iter=10**6, max_cost=budget,
                    **{"random_state": seed, **params}).minimize(
            counter, X, X, callback=lambda e: note(counter.cost))
    return run


def _lbfgs_runner(budget):
    """Full-batch L-BFGS (SciPy's L-BFGS-B, 20 correction pairs) on the same objective: the
    quasi-Newton baseline Martens (2010) compared HF against. Each function evaluation is
    one counted ``loss_and_grad`` on all of X."""
    import scipy.optimize

    class Spent(Exception):
        pass

    def run(counter, X, note):
        def fg(theta):
            counter.set_flat(theta.astype(counter.theta.dtype))
            f, g = counter.loss_and_grad(X, X)
            return float(f), np.asarray(g, dtype=np.float64)

        def callback(theta):
            note(counter.cost)
            if counter.cost >= budget:
                raise Spent

        try:
            scipy.optimize.minimize(fg, np.asarray(counter.get_flat(), dtype=np.float64),
                                    jac=True, method="L-BFGS-B", callback=callback,
                                    options={"maxiter": 10**9, "maxfun": 10**9, "maxcor": 20})
        except Spent:
            pass
    return run


def _grid(columns, settings, score):
    """Print a markdown table, one row per setting (a tuple, in ``columns`` order) with
    ``score(*setting)`` (NaN where SGD diverged), then the best (lowest) row."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    best = None
    for setting in settings:
        try:
            value = score(*setting)
        except FloatingPointError:
            value = math.nan
        value = value if math.isfinite(value) else math.nan
        print("| " + " | ".join(map(str, setting)) + f" | {value:.4f} |", flush=True)
        if math.isfinite(value) and (best is None or value < best[0]):
            best = (value,) + tuple(setting)
    print("best:", best)


def tune_sgd(args):
    """The SGD grid on the autoencoder at the demo's budget (docs/hf.md records it)."""
    budget = args.budget or demos.AE_BUDGET
    X = demos.digits_pixels()
    print(f"SGD grid, digits autoencoder, budget {budget:.0f} gradient evaluations "
          f"({budget / len(X):.0f} epochs); reconstruction error (sum of squares per image)")

    def score(init, bs, mom, lr):
        net = demos.digits_autoencoder(init=init)
        demos.run_sgd(net, X, X, budget, learning_rate=lr, momentum=mom, batch_size=bs,
                      random_state=0)
        return demos.reconstruction_error(net, X)

    _grid(("init", "batch", "momentum", "learning rate", "error"),
          itertools.product(args.inits, args.batch_sizes, args.momenta, args.learning_rates),
          score)


def autoencoder(args):
    budget = args.budget or demos.AE_BUDGET
    marks = sorted({budget * f for f in (0.1, 0.25, 0.5, 1.0)})
    hf = _ae_curve(_hf_runner(budget, demos.AE_HF), budget, marks)
    sgd = _ae_curve(_sgd_runner(hf["cost"], demos.AE_SGD), hf["cost"], marks)
    lbfgs = _ae_curve(_lbfgs_runner(hf["cost"]), hf["cost"], marks)
    print(f"digits autoencoder, backend {deepbio.backend.current().name}: reconstruction "
          f"error (sum of squared pixel errors per image) at counted budgets")
    print("| counted budget | HF | SGD | L-BFGS (full batch) |")
    print("|---|---|---|---|")
    for b in marks:
        print(f"| {b:.0f} | {hf.get(b, math.nan):.4f} | {sgd.get(b, math.nan):.4f} | "
              f"{lbfgs.get(b, math.nan):.4f} |")
    print(f"| final ({hf['cost']:.0f} / {sgd['cost']:.0f} / {lbfgs['cost']:.0f}) | "
          f"{hf['final']:.4f} | {sgd['final']:.4f} | {lbfgs['final']:.4f} |")
    print(f"wall time: HF {hf['time']:.1f} s, SGD {sgd['time']:.1f} s, "
          f"L-BFGS {lbfgs['time']:.1f} s")
    timed = _ae_curve(_sgd_timed_runner(hf["time"], demos.AE_SGD), math.inf, ())
    print(f"SGD given HF's wall time ({timed['time']:.1f} s, counted {timed['cost']:.0f}): "
          f"{timed['final']:.4f} (HF {hf['final']:.4f})")


# ------------------------------------------------------------------- addition


def addition(args):
    T = args.T
    X, y, Xt, yt = demos.addition_data(T, args.n_train, seed=args.seed)
    net = demos.addition_rnn(T, seed=args.seed)
    counter = CountingNetwork(net)
    params = json.loads(args.params) if args.params else {}
    t0 = time.perf_counter()
    state = {"first": None, "last_eval": -1, "n": 0}
    print(f"addition T={T}, {args.opt} {params}, n_train={args.n_train}, budget "
          f"{args.budget:.3g}, backend {deepbio.backend.current().name}", flush=True)

    def report(loss):
        state["n"] += 1
        if state["n"] % args.eval_every:
            return False
        mae = demos.mean_absolute_error(net, Xt, yt)
        elapsed = time.perf_counter() - t0
        print(f"cost {counter.cost:.0f} loss {loss:.5f} test_mae {mae:.4f} time {elapsed:.0f}",
              flush=True)
        if mae < args.target and state["first"] is None:
            state["first"] = (counter.cost, elapsed, mae)
            print(f"FIRST below {args.target}: cost {counter.cost:.0f} time {elapsed:.0f} s",
                  flush=True)
            if args.stop_at_target:
                return True
        return elapsed > args.max_time

    if args.opt == "hf":
        hf = HessianFree(**{"max_iter": 10**6, "max_cost": args.budget,
                            "random_state": args.seed, **params})

        def cb(e):
            if e["iteration"] % args.eval_every == 0:
                print(f"  it {e['iteration']} lam {e['damping']:.3g} rho {e['rho']:.2f} "
                      f"cg {e['cg_iters']}/{e['cg_iterate']} step {e['step_size']:.2f}",
                      flush=True)
            return report(e["loss"])

        hf.minimize(counter, X, y, callback=cb)
    else:
        epochs = max(1, math.ceil(args.budget / len(X)))
        try:
            SGD(**{"max_epochs": epochs, "random_state": args.seed, **params}).minimize(
                counter, X, y, callback=lambda e: report(e["loss"]))
        except FloatingPointError as err:
            print("diverged:", err)
    mae = demos.mean_absolute_error(net, Xt, yt)
    print(f"RESULT T={T} {args.opt} {params} cost {counter.cost:.0f} test_mae {mae:.4f} "
          f"time {time.perf_counter() - t0:.0f} s first_below_target {state['first']}",
          flush=True)


def tune_sgd_addition(args):
    """SGD grid on the addition problem at a fixed counted budget: held-out MAE of each
    setting (docs/hf.md records it; the demo test runs the best one)."""
    T, budget = args.T, args.budget
    X, y, Xt, yt = demos.addition_data(T, args.n_train, seed=args.seed)
    print(f"SGD grid, addition T={T}, Elman {args.units} tanh, {args.n_train} sequences, "
          f"budget {budget:.3g} gradient evaluations, clip_norm {args.clip_norm}")

    def score(bs, mom, lr):
        net = demos.addition_rnn(T, units=args.units, seed=args.seed)
        demos.run_sgd(net, X, y, budget, learning_rate=lr, momentum=mom, batch_size=bs,
                      clip_norm=args.clip_norm, random_state=args.seed)
        return demos.mean_absolute_error(net, Xt, yt)

    _grid(("batch", "momentum", "learning rate", "held-out MAE"),
          itertools.product(args.batch_sizes, args.momenta, args.learning_rates), score)


# ------------------------------------------- Martens & Sutskever's pathological problems

#: HF on recurrent networks as tuned on the addition problem (docs/hf.md, ADD_HF), with
#: and without structural damping; SGD: the best of the addition grid at 3e5 (ADD_SGD)
PATHOLOGICAL_METHODS = {
    "hf-sd": ("hf", {k: v for k, v in demos.ADD_HF.items() if k != "random_state"}),
    "hf": ("hf", {**{k: v for k, v in demos.ADD_HF.items() if k != "random_state"},
                  "structural_damping": 0.0}),
    "sgd": ("sgd", dict(demos.ADD_SGD)),
}


def pathological_data(problem, T, n, seed):
    """``(X_in, targets, y_true)`` of one problem for an ``nn.Network``: inputs with the
    mask as a last channel where the problem has variable lengths, float32 targets for
    the network's loss (one-hot for the classification problems), and the labels /
    values the success rule of :func:`deepbio.datasets.pathological_error` compares."""
    from deepbio.datasets import (make_addition_problem, make_memorization_problem,
                                  make_multiplication_problem,
                                  make_random_permutation_problem,
                                  make_temporal_order_problem, make_xor_problem)
    from deepbio.models._checks import with_mask_channel
    f32 = np.float32
    if problem == "addition":
        X, y = make_addition_problem(n, T, random_state=seed, dtype=f32)
        return X, y, y
    if problem == "multiplication":
        X, y, m = make_multiplication_problem(n, T, random_state=seed, dtype=f32)
        return with_mask_channel(X, m), y, y
    if problem in ("xor", "temporal_order", "temporal_order_3bit"):
        if problem == "xor":
            X, y, m = make_xor_problem(n, T, random_state=seed, dtype=f32)
        else:
            X, y, m = make_temporal_order_problem(
                n, T, n_symbols=2 if problem == "temporal_order" else 3,
                random_state=seed, dtype=f32)
        K = {"xor": 2, "temporal_order": 4, "temporal_order_3bit": 8}[problem]
        return with_mask_channel(X, m), np.eye(K, dtype=f32)[y], y
    if problem == "random_permutation":
        X, y = make_random_permutation_problem(n, T, random_state=seed, dtype=f32)
        return X, np.eye(X.shape[2], dtype=f32)[y], y
    if problem == "memorization":
        X, y = make_memorization_problem(n, T, random_state=seed, dtype=f32)
        return X, np.eye(X.shape[2] - 1, dtype=f32)[y], y
    raise ValueError(f"unknown problem {problem!r}")


def pathological_network(problem, input_shape, n_out, units, seed):
    """Elman (``units`` tanh units) then a linear layer; squared error for the
    real-valued problems, softmax cross-entropy (per position for the two tagging
    problems) otherwise; a SequenceMask first where the inputs carry a mask."""
    from deepbio.nn import (Dense, MaskedSoftmaxCrossEntropy, Network, SequenceMask,
                            TimeDistributedDense, recurrent)
    per_position = problem in ("random_permutation", "memorization")
    masked = problem not in ("addition", "random_permutation", "memorization")
    layers = [SequenceMask()] if masked else []
    layers.append(recurrent.Elman(units, "tanh", return_sequences=per_position))
    layers.append((TimeDistributedDense if per_position else Dense)(n_out))
    loss = ("squared_error" if problem in ("addition", "multiplication") else
            MaskedSoftmaxCrossEntropy() if per_position else "softmax_cross_entropy")
    return Network(layers, loss, dtype="float32").build(input_shape, random_state=seed)


def _pathological_predictions(problem, net, X):
    out = []
    for start in range(0, len(X), 500):
        out.append(deepbio.backend.current().to_numpy(net.predict(X[start:start + 500])))
    return np.concatenate(out)


def pathological_run(problem, T, method, seed, budget, n_train, n_test, units,
                     max_error=0.01, eval_every=1):
    """One run: train until the held-out error of the problem's success rule is at most
    ``max_error`` (evaluated after every HF iteration / SGD epoch: bookkeeping, not
    counted) or the counted budget is spent.  Returns a dict with ``solved``, the
    counted ``cost`` and the ``time`` at the stop, and the last held-out ``error``."""
    from deepbio.datasets import pathological_error
    X, Y, _ = pathological_data(problem, T, n_train, seed)
    Xt, _, yt = pathological_data(problem, T, n_test, seed + 1000)
    net = pathological_network(problem, X.shape[1:], Y.shape[-1], units, seed)
    counter = CountingNetwork(net)
    kind, params = PATHOLOGICAL_METHODS[method]
    state = {"error": 1.0, "n": 0, "solved": False}
    t0 = time.perf_counter()
    n_chars = 5 if problem == "memorization" else None

    def check(_entry=None):
        state["n"] += 1
        if state["n"] % eval_every:
            return False
        state["error"] = pathological_error(problem, yt, _pathological_predictions(
            problem, net, Xt), n_chars=n_chars)
        state["solved"] = state["error"] <= max_error
        state["cost"], state["time"] = counter.cost, time.perf_counter() - t0
        return state["solved"]

    try:
        if kind == "hf":
            HessianFree(max_iter=10**6, max_cost=budget, random_state=seed,
                        **params).minimize(counter, X, Y, callback=check)
        else:
            SGD(max_epochs=max(1, math.ceil(budget / len(X))), random_state=seed,
                **params).minimize(counter, X, Y, callback=check)
    except FloatingPointError as err:
        state["diverged"] = str(err)[:80]
    if not state["solved"]:
        check()
        state["n"] = 0
    state.update(cost=counter.cost, time=time.perf_counter() - t0)
    return {"problem": problem, "T": T, "method": method, "seed": seed, **state}


def pathological(args):
    """The results table of docs/hf.md: for each problem, T and method, how many of the
    seeds reach the success criterion within the counted budget, their cost and time."""
    rows = []
    print(f"pathological problems: Elman {args.units} tanh, {args.n_train} training / "
          f"{args.n_test} held-out sequences, budget {args.budget:.3g} counted gradient "
          f"evaluations, criterion: held-out error <= {args.max_error}, backend "
          f"{deepbio.backend.current().name}", flush=True)
    for problem in args.problems:
        for T in args.T:
            for method in args.methods:
                runs = []
                for seed in args.seeds:
                    r = pathological_run(problem, T, method, seed, args.budget,
                                         args.n_train, args.n_test, args.units,
                                         args.max_error)
                    runs.append(r)
                    print(json.dumps(r), flush=True)
                rows.append(runs)
    print("\n| problem | T | method | seeds solved | counted cost (solved runs) | "
          "wall time per run | held-out error at the end |")
    print("|---|---|---|---|---|---|---|")
    for runs in rows:
        r0 = runs[0]
        solved = [r for r in runs if r["solved"]]
        cost = ", ".join(f"{r['cost']:.2g}" for r in solved) or "—"
        times = ", ".join(f"{r['time']:.0f} s" for r in runs)
        errs = ", ".join(f"{r['error']:.3f}" for r in runs)
        print(f"| {r0['problem']} | {r0['T']} | {r0['method']} | {len(solved)}/{len(runs)}"
              f" | {cost} | {times} | {errs} |", flush=True)


def torch_addition(args):
    """The alternative a user would try: PyTorch, an LSTM and Adam on the same addition
    data (``make_addition_problem``, the same training / held-out split as ``addition``),
    to the first held-out MAE below ``--target``.  Counted cost as deepbio counts it: one
    gradient evaluation per example per step (``batch`` per step), evaluations not
    counted.  torch is not a deepbio dependency: this command needs it installed."""
    try:
        import torch
    except ImportError:
        sys.exit("torch-addition needs PyTorch (pip install torch)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(args.seed)
    X, y, Xt, yt = demos.addition_data(args.T, args.n_train, seed=args.seed)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    Xt, yt = torch.from_numpy(Xt), torch.from_numpy(yt)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(2, args.hidden, batch_first=True)
            self.out = torch.nn.Linear(args.hidden, 1)

        def forward(self, x):
            h, _ = self.rnn(x)
            return self.out(h[:, -1])

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    t0, cost, first = time.perf_counter(), 0, None
    print(f"torch {torch.__version__} LSTM {args.hidden}, Adam lr {args.lr}, batch "
          f"{args.batch}, addition T={args.T}, {args.n_train} sequences", flush=True)
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(X), (args.batch,), generator=gen)
        loss = 0.5 * ((model(X[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        cost += args.batch
        if step % args.eval_every == 0:
            with torch.no_grad():
                mae = float((model(Xt) - yt).abs().mean())
            elapsed = time.perf_counter() - t0
            print(f"step {step} cost {cost} test_mae {mae:.4f} time {elapsed:.0f}",
                  flush=True)
            if mae < args.target:
                first = (step, cost, elapsed, mae)
                break
    print(f"RESULT torch LSTM T={args.T} first_below_target (step, cost, time, mae) = "
          f"{first}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=demos.FAST_BACKEND)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--T", type=int, default=100)
    c.add_argument("--repeat", type=int, default=7)
    c.add_argument("--iterations", type=int, default=5)
    t = sub.add_parser("tune-sgd")
    t.add_argument("--budget", type=float, default=None)
    t.add_argument("--inits", nargs="+", default=["sparse", "glorot"])
    t.add_argument("--batch-sizes", nargs="+", type=int, default=[20, 100])
    t.add_argument("--momenta", nargs="+", type=float, default=[0.9, 0.95, 0.99])
    t.add_argument("--learning-rates", nargs="+", type=float,
                   default=[0.001, 0.003, 0.01, 0.03, 0.1])
    a = sub.add_parser("autoencoder")
    a.add_argument("--budget", type=float, default=None)
    d = sub.add_parser("addition")
    d.add_argument("--T", type=int, default=100)
    d.add_argument("--opt", choices=["hf", "sgd"], default="hf")
    d.add_argument("--params", default=None, help="JSON dict of optimiser parameters")
    d.add_argument("--n-train", type=int, default=10000)
    d.add_argument("--budget", type=float, default=3e6)
    d.add_argument("--max-time", type=float, default=math.inf)
    d.add_argument("--eval-every", type=int, default=1)
    d.add_argument("--target", type=float, default=0.04)
    d.add_argument("--stop-at-target", action="store_true")
    d.add_argument("--seed", type=int, default=0)
    ta = sub.add_parser("tune-sgd-addition")
    ta.add_argument("--T", type=int, default=100)
    ta.add_argument("--units", type=int, default=100)
    ta.add_argument("--n-train", type=int, default=10000)
    ta.add_argument("--budget", type=float, default=130_000)
    ta.add_argument("--batch-sizes", nargs="+", type=int, default=[20, 50, 100])
    ta.add_argument("--momenta", nargs="+", type=float, default=[0.9, 0.99])
    ta.add_argument("--learning-rates", nargs="+", type=float,
                    default=[0.0003, 0.001, 0.003, 0.01, 0.03])
    ta.add_argument("--clip-norm", type=float, default=1.0)
    ta.add_argument("--seed", type=int, default=0)
    pa = sub.add_parser("pathological")
    pa.add_argument("--problems", nargs="+", default=["addition", "multiplication",
                                                      "temporal_order"])
    pa.add_argument("--T", nargs="+", type=int, default=[100])
    pa.add_argument("--methods", nargs="+", default=list(PATHOLOGICAL_METHODS),
                    choices=list(PATHOLOGICAL_METHODS))
    pa.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    pa.add_argument("--budget", type=float, default=3e5)
    pa.add_argument("--n-train", type=int, default=10000)
    pa.add_argument("--n-test", type=int, default=1000)
    pa.add_argument("--units", type=int, default=100)
    pa.add_argument("--max-error", type=float, default=0.01)
    tt = sub.add_parser("torch-addition")
    tt.add_argument("--T", type=int, default=100)
    tt.add_argument("--n-train", type=int, default=10000)
    tt.add_argument("--hidden", type=int, default=100)
    tt.add_argument("--lr", type=float, default=1e-3)
    tt.add_argument("--batch", type=int, default=50)
    tt.add_argument("--steps", type=int, default=20000)
    tt.add_argument("--eval-every", type=int, default=50)
    tt.add_argument("--target", type=float, default=0.04)
    tt.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    with deepbio.use_backend(args.backend):
        {"cost": cost, "tune-sgd": tune_sgd, "autoencoder": autoencoder,
         "addition": addition, "tune-sgd-addition": tune_sgd_addition,
         "pathological": pathological, "torch-addition": torch_addition}[args.cmd](args)


if __name__ == "__main__":
    main()
