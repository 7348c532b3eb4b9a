"""Thread pools: ``deepbio.show_config``, ``set_num_threads`` with threadpoolctl, and the
configuration deepbio arrives at in every import order (issue 25).

Only configuration facts are asserted (thread counts, which runtime, the wait policy and
grain floor deepbio applied, which OpenBLAS pools it restarted), never a wall-clock time:
``bench/threads.py`` measures the speed.  The import-order checks run in subprocesses,
since what matters is what was loaded before ``import deepbio``.
"""
import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deepbio
from deepbio import _threads

cpu = pytest.importorskip("deepbio._kernels.cpu")
threadpoolctl = pytest.importorskip("threadpoolctl")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILED = cpu.available()
needs_kernels = pytest.mark.skipif(not COMPILED, reason="Cython kernels not compiled")


@pytest.fixture
def threads():
    """Set the thread count inside a test; restore the previous setting after it."""
    before = deepbio.get_num_threads()
    yield deepbio.set_num_threads
    deepbio.set_num_threads(before)


def _blas_threads(cfg):
    return sorted(p["num_threads"] for p in cfg["threadpools"] if p["user_api"] == "blas")


# ------------------------------------------------------------------------ show_config


def test_show_config_prints_backend_pools_and_wait_policy(capsys):
    assert deepbio.show_config() is None
    text = capsys.readouterr().out
    assert text.startswith("deepbio configuration")
    assert f"backend: {deepbio.get_backend()}" in text
    assert "thread pools (threadpoolctl):" in text
    assert "blas/" in text                                  # NumPy's and SciPy's BLAS
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
                 "OPENBLAS_THREAD_TIMEOUT"):
        assert name in text
    assert "applied by deepbio:" in text
    assert "kernel_grain_floor:" in text
    assert f"effective={deepbio.get_num_threads()}" in text
    for pool in threadpoolctl.threadpool_info():            # every pool, with its file
        assert pool["filepath"] in text
    if COMPILED and cpu.build_info()["openmp"]:
        assert "openmp/" in text


def test_show_config_writes_to_file_and_returns_a_dict():
    buf = io.StringIO()
    deepbio.show_config(file=buf)
    assert buf.getvalue().startswith("deepbio configuration")
    cfg = deepbio.show_config(as_dict=True)
    assert set(cfg) == {"backend", "build", "threads", "threadpools", "environment",
                        "deepbio_applied"}
    assert cfg["backend"]["name"] == deepbio.get_backend()
    assert cfg["threads"]["effective"] == deepbio.get_num_threads()
    assert cfg["environment"]["OPENBLAS_THREAD_TIMEOUT"] == os.environ.get(
        "OPENBLAS_THREAD_TIMEOUT")
    assert {p["filepath"] for p in cfg["threadpools"]} == {
        p["filepath"] for p in threadpoolctl.threadpool_info()}
    json.dumps(cfg)                                          # plain data only
    applied = cfg["deepbio_applied"]
    assert applied["kernel_grain_floor"] == (cpu.get_grain_floor() if COMPILED else 0)


@needs_kernels
def test_show_config_names_the_kernels_openmp_runtime():
    if not cpu.build_info()["openmp"]:
        pytest.skip("kernels built without OpenMP")
    path = deepbio.show_config(as_dict=True)["deepbio_applied"]["kernels_openmp_runtime"]
    if path is None:
        pytest.skip("dladdr unavailable here")
    openmp = [os.path.realpath(p["filepath"]) for p in threadpoolctl.threadpool_info()
              if p["user_api"] == "openmp"]
    assert path in openmp


# ------------------------------------------- set_num_threads and threadpoolctl together


@needs_kernels
def test_set_num_threads_sets_openmp_and_every_blas(threads):
    for n in (1, 2):
        assert threads(n) in (None, 1, 2)
        cfg = deepbio.show_config(as_dict=True)
        assert deepbio.get_num_threads() == n
        assert cfg["threads"] == {"set_num_threads": n, "effective": n,
                                  "openmp_max_threads": n}
        assert _blas_threads(cfg) and set(_blas_threads(cfg)) == {n}


@needs_kernels
def test_threadpool_limits_around_a_fit_wins_inside_and_is_undone_after(threads):
    threads(2)
    X = (np.random.default_rng(0).random((60, 12)) < 0.5).astype(np.float32)
    with threadpoolctl.threadpool_limits(limits=1):
        inside = deepbio.show_config(as_dict=True)
        W1 = deepbio.RBM(n_components=6, n_iter=2, batch_size=20, random_state=0).fit(X).W_
    after = deepbio.show_config(as_dict=True)
    W2 = deepbio.RBM(n_components=6, n_iter=2, batch_size=20, random_state=0).fit(X).W_
    # threadpoolctl reached the kernels' OpenMP runtime and both BLAS libraries ...
    assert inside["threads"]["openmp_max_threads"] == 1
    assert set(_blas_threads(inside)) == {1}
    # ... deepbio's own setting stayed, and comes back when the block ends
    assert inside["threads"]["set_num_threads"] == 2
    assert after["threads"]["openmp_max_threads"] == 2
    assert set(_blas_threads(after)) == {2}
    np.testing.assert_array_equal(W1, W2)            # thread counts change no result here


@needs_kernels
def test_set_num_threads_inside_threadpool_limits_is_undone_by_the_block(threads):
    threads(2)
    with threadpoolctl.threadpool_limits(limits=2):
        threads(1)                                   # deepbio's call inside the block
        assert cpu.get_num_threads() == 1
        assert set(_blas_threads(deepbio.show_config(as_dict=True))) == {1}
    # threadpoolctl restores what it found on entry, in OpenMP and BLAS alike; deepbio's
    # record still says 1, and show_config shows both facts side by side
    cfg = deepbio.show_config(as_dict=True)
    assert cfg["threads"]["openmp_max_threads"] == 2
    assert set(_blas_threads(cfg)) == {2}
    assert cfg["threads"]["set_num_threads"] == deepbio.get_num_threads() == 1


# ---------------------------------------------------------------------- grain floor


@needs_kernels
def test_grain_floor_changes_thread_counts_only_never_a_result():
    K = deepbio.backend.get("cython").kernels
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 700)).astype(np.float32)   # 2.1e5 elements: 2 threads
    u = rng.random((300, 700), dtype=np.float32)
    h = (rng.random((300, 500)) < 0.5).astype(np.float32)

    def run():
        p, s = K.sigmoid_bernoulli(x, u)
        stats = K.cd_statistics(s, h, p, h)
        return [p, s, *stats]

    before = cpu.set_grain_floor(0)
    try:
        free = run()
        cpu.set_grain_floor(1 << 40)                         # everything serial
        serial = run()
    finally:
        cpu.set_grain_floor(before)
    for a, b in zip(free, serial):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        cpu.set_grain_floor(-1)


@needs_kernels
def test_grain_floor_follows_the_wait_policy_decided_at_import():
    policy = cpu.WAIT_POLICY
    assert set(policy) == {"preloaded", "user_env", "spinning", "grain_floor"}
    assert policy["grain_floor"] in (0, cpu.SPIN_GRAIN)
    assert (policy["grain_floor"] == cpu.SPIN_GRAIN) == (
        policy["spinning"] and not policy["user_env"])


def test_passive_reads_the_wait_policy_variables():
    assert cpu._passive({"OMP_WAIT_POLICY": "passive"})
    assert cpu._passive({"OMP_WAIT_POLICY": "PASSIVE "})
    assert not cpu._passive({"OMP_WAIT_POLICY": "active"})
    assert not cpu._passive({})
    assert cpu._passive({"GOMP_SPINCOUNT": "0", "OMP_WAIT_POLICY": "active"})
    assert not cpu._passive({"GOMP_SPINCOUNT": "10000", "OMP_WAIT_POLICY": "passive"})
    assert cpu._passive({"KMP_BLOCKTIME": "0"})


# ------------------------------------------------------- import orders, in subprocesses

PROBE = textwrap.dedent("""
    import json, os, sys
    from threadpoolctl import threadpool_info      # (loads no BLAS, no OpenMP)
    first = sys.argv[1]
    if first in ("torch", "torch-used"):
        import torch
        if first == "torch-used":
            torch.set_num_threads(2)
            float((torch.randn(64, 64) @ torch.randn(64, 64)).sum())
    elif first == "sklearn":
        import sklearn.linear_model
    elif first == "scipy":
        import scipy.linalg
    elif first == "numpy":
        import numpy
    before = sorted(p["filepath"] for p in threadpool_info()
                    if p["internal_api"] == "openblas" and p.get("threading_layer") == "pthreads")
    import deepbio
    import numpy as np
    if first == "torch-after":
        import torch
        float((torch.randn(64, 64) @ torch.randn(64, 64)).sum())
    deepbio.set_num_threads(2)
    X = (np.random.default_rng(0).random((60, 12)) < 0.5).astype(np.float32)
    W = deepbio.RBM(n_components=6, n_iter=2, batch_size=20, random_state=0).fit(X).W_
    cfg = deepbio.show_config(as_dict=True)
    cfg["W"] = W.tobytes().hex()
    cfg["openblas_loaded_before_deepbio"] = before
    print(json.dumps(cfg))
""")


def _probe(first, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
                         "OPENBLAS_THREAD_TIMEOUT")}
    full.update(env)
    full["PYTHONPATH"] = ROOT + os.pathsep + full.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", PROBE, first], capture_output=True, text=True,
                       cwd=ROOT, env=full, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _have(module):
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def alone():
    if not COMPILED:
        pytest.skip("Cython kernels not compiled")
    return _probe("alone")


def _same_threads_and_result(cfg, ref):
    assert cfg["backend"]["name"] == ref["backend"]["name"]
    assert cfg["threads"] == ref["threads"] == {"set_num_threads": 2, "effective": 2,
                                                "openmp_max_threads": 2}
    assert set(_blas_threads(cfg)) == set(_blas_threads(ref)) == {2}
    assert cfg["environment"]["OPENBLAS_THREAD_TIMEOUT"] == "1"
    assert cfg["W"] == ref["W"]                      # the same fit, bit for bit


def test_alone_deepbio_configures_every_pool_it_loads(alone):
    applied = alone["deepbio_applied"]
    assert alone["environment"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert applied["openmp_loaded_before_deepbio"] == []
    assert applied["openmp_idle_threads_spin"] is False
    assert applied["kernel_grain_floor"] == 0
    assert applied["openblas_pools_restarted"] == []


@pytest.mark.skipif(not _have("torch"), reason="needs PyTorch")
@pytest.mark.parametrize("first", ["torch", "torch-used"])
def test_torch_first_changes_no_thread_count_only_how_deepbio_guards(first, alone):
    cfg = _probe(first)
    _same_threads_and_result(cfg, alone)
    applied = cfg["deepbio_applied"]
    # PyTorch loaded libgomp before deepbio could set OMP_WAIT_POLICY: deepbio says so,
    # and keeps its short loops off the spinning workers ...
    assert applied["openmp_loaded_before_deepbio"] == ["libgomp.so.1"]
    assert applied["openmp_idle_threads_spin"] is True
    assert applied["kernel_grain_floor"] == cpu.SPIN_GRAIN
    assert "too late" in applied["OMP_WAIT_POLICY"]
    # ... and PyTorch imported NumPy, whose OpenBLAS pool deepbio restarted
    assert cfg["openblas_loaded_before_deepbio"]
    assert sorted(applied["openblas_pools_restarted"]) == cfg["openblas_loaded_before_deepbio"]


@pytest.mark.skipif(not _have("torch"), reason="needs PyTorch")
def test_torch_imported_after_deepbio(alone):
    cfg = _probe("torch-after")
    _same_threads_and_result(cfg, alone)
    # deepbio loads its kernels lazily: PyTorch, imported before the first fit, still
    # loaded libgomp first, and deepbio noticed
    assert cfg["deepbio_applied"]["kernel_grain_floor"] == cpu.SPIN_GRAIN
    assert cfg["deepbio_applied"]["openblas_pools_restarted"] == []


@pytest.mark.skipif(not _have("sklearn"), reason="needs scikit-learn")
@pytest.mark.parametrize("first", ["sklearn", "scipy", "numpy"])
def test_scientific_stack_first_has_its_openblas_pools_restarted(first, alone):
    cfg = _probe(first)
    _same_threads_and_result(cfg, alone)
    applied = cfg["deepbio_applied"]
    # every OpenBLAS loaded before deepbio (NumPy's; SciPy's too unless only NumPy was
    # imported) had its pool restarted, and nothing else
    before = cfg["openblas_loaded_before_deepbio"]
    assert len(before) == (1 if first == "numpy" else 2)
    assert sorted(applied["openblas_pools_restarted"]) == before
    # scikit-learn's own libgomp has a private soname: the kernels still load theirs
    # after deepbio set OMP_WAIT_POLICY, so no grain floor
    assert applied["kernel_grain_floor"] == 0
    assert applied["openmp_idle_threads_spin"] is False


@pytest.mark.skipif(not _have("torch"), reason="needs PyTorch")
def test_a_users_own_wait_policy_wins(alone):
    cfg = _probe("torch", OMP_WAIT_POLICY="passive", OPENBLAS_THREAD_TIMEOUT="2")
    applied = cfg["deepbio_applied"]
    assert cfg["environment"]["OMP_WAIT_POLICY"] == "passive"
    assert cfg["environment"]["OPENBLAS_THREAD_TIMEOUT"] == "2"
    assert applied["openmp_idle_threads_spin"] is False      # the runtime read "passive"
    assert applied["kernel_grain_floor"] == 0
    assert applied["openblas_pools_restarted"] == []         # it read the user's timeout
    assert cfg["W"] == alone["W"]
