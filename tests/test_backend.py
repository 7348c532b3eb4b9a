"""The backend switch: listing, choosing, nesting, the environment variable, clear errors."""
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import deepbio
import deepbio.backend
from deepbio._kernels import CONTRACT

ROOT = str(Path(deepbio.__file__).resolve().parents[1])    # the tree that holds `deepbio`


def _cython_compiled():
    from deepbio._kernels import cpu
    return cpu.available()


@pytest.fixture
def restore_global():
    """Put the global backend back after a test that calls set_backend."""
    before = deepbio.get_backend()
    yield
    deepbio.set_backend(before)


# ------------------------------------------------------------------------ listing


def test_backends_lists_numpy_first_and_only_known_names():
    names = deepbio.backends()
    assert names[0] == "numpy"
    assert set(names) <= set(deepbio.backend.NAMES)
    assert names == [n for n in deepbio.backend.NAMES if n in names]     # preference order


def test_backends_lists_cython_when_compiled():
    if not _cython_compiled():
        pytest.skip("deepbio._kernels.cpu is not compiled here")
    assert "cython" in deepbio.backends()


def test_cython_backend_overrides_reference_with_compiled_kernels():
    if not _cython_compiled():
        pytest.skip("deepbio._kernels.cpu is not compiled here")
    from deepbio._kernels import cpu, reference
    compiled = cpu.load()
    assert compiled, "the build compiles at least one kernel"
    raw = deepbio.backend.get("cython").kernels.raw
    for name in CONTRACT:
        want = compiled.get(name, getattr(reference, name))
        assert raw[name] is want, name


# ------------------------------------------------------------------ backend object


@pytest.mark.parametrize("name", deepbio.backends())
def test_backend_object(name):
    b = deepbio.backend.get(name)
    assert b.name == name and name in repr(b)
    assert b.xp is not None and hasattr(b.xp, "asarray")
    assert set(b.kernels) == set(CONTRACT) == set(b.kernels.raw)
    for kname in CONTRACT:
        fn = getattr(b.kernels, kname)
        assert callable(fn) and fn.__name__ == kname
        assert fn.__doc__                      # the reference docstring: the formula
    # rng: seeded, reproducible, and a generator passes through
    assert np.array_equal(b.rng(5).random(4), b.rng(5).random(4))
    g = np.random.default_rng(1)
    assert b.rng(g) is g
    u = b.uniform(b.rng(2), (3, 4), np.float32)
    assert u.dtype == np.float32 and u.shape == (3, 4)
    un = b.to_numpy(u)
    assert isinstance(un, np.ndarray) and un.min() >= 0 and un.max() < 1
    # asarray: C-contiguous, of the dtype asked; to_numpy back to the host
    x = np.arange(12.0).reshape(3, 4).T
    a = b.asarray(x, np.float32)
    assert isinstance(a, b.array_type) and a.dtype == np.float32 and a.flags.c_contiguous
    np.testing.assert_array_equal(b.to_numpy(a), x.astype(np.float32))
    assert b.asarray([[1, 2]], np.float64).dtype == np.float64
    assert b.synchronize() is None            # waits for the device; nothing to wait for here
    # scalar / all_finite: the named host reads
    v = b.scalar(b.xp.sum(b.asarray([1.5, 2.0])))
    assert type(v) is float and v == 3.5
    assert b.all_finite(b.asarray([0.0, 1e300])) is True
    for bad in (np.nan, np.inf, -np.inf):
        assert b.all_finite(b.asarray([0.0, bad])) is False


# ------------------------------------------------------------ random streams


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", deepbio.backends())
def test_stream_uniforms_are_the_reference_philox_bit_for_bit(name, dtype):
    from deepbio._kernels import reference
    b = deepbio.backend.get(name)
    s = b.stream(7, 3)
    first = b.to_numpy(b.uniform(s, (3, 5), dtype))
    second = b.to_numpy(b.uniform(s, 4, dtype))
    assert first.shape == (3, 5) and second.shape == (4,) and first.dtype == dtype
    per = 4 if dtype == "float32" else 2
    np.testing.assert_array_equal(first.ravel(), reference.philox_uniform(15, 7, 3, 0, dtype))
    # 15 uniforms took ceil(15 / per) blocks; the next draw starts after them
    np.testing.assert_array_equal(second,
                                  reference.philox_uniform(4, 7, 3, -(-15 // per), dtype))
    assert s.offset == -(-15 // per) + -(-4 // per)
    # other streams and other keys are other numbers; an empty draw takes nothing
    assert not np.array_equal(first, b.to_numpy(b.uniform(b.stream(7, 4), (3, 5), dtype)))
    assert not np.array_equal(first, b.to_numpy(b.uniform(b.stream(8, 3), (3, 5), dtype)))
    before = s.offset
    assert b.to_numpy(b.uniform(s, (0, 5), dtype)).shape == (0, 5) and s.offset == before


def test_stream_keys():
    b = deepbio.backend.get("numpy")
    assert (b.stream(5).seed, b.stream(5).stream, b.stream(5, 9).stream) == (5, 0, 9)
    assert b.stream(2**64 - 1).seed == 2**64 - 1 and b.stream(np.int64(3)).seed == 3
    s = b.stream(1)
    assert b.stream(s) is s
    g1, g2 = np.random.default_rng(0), np.random.default_rng(0)
    k1, k2 = b.stream(g1).seed, b.stream(g2).seed
    assert k1 == k2 and b.stream(g1).seed != k1         # drawn from the generator
    assert b.stream(None).seed != b.stream(None).seed    # fresh entropy
    for bad in (-1, 1.5, "seed", True, np.random.RandomState(0)):
        with pytest.raises((ValueError, TypeError), match="random_state"):
            b.stream(bad)
    from deepbio._random import PhiloxStream
    for kw in ({"seed": 2**64}, {"seed": 0, "stream": -1}, {"seed": 0, "offset": 1.0}):
        with pytest.raises(ValueError, match=f"{list(kw)[-1]} must be an int in"):
            PhiloxStream(**kw)
    assert PhiloxStream(1, 2, 3) == PhiloxStream(1, 2, 3) != PhiloxStream(1, 2, 4)
    assert repr(PhiloxStream(1, 2, 3)) == "PhiloxStream(seed=1, stream=2, offset=3)"


def test_the_same_seed_gives_the_same_masks_and_samples_on_every_backend():
    """Dropout masks, corruptions and an RBM's Gibbs samples come from Philox streams,
    so the CPU backends agree to the bit on the uniforms; what differs is only the
    order of the sums in the kernels."""
    from deepbio.nn import Corruption, Dropout
    names = deepbio.backends()
    X = np.random.default_rng(0).random((6, 10))
    out = {}
    for name in names:
        with deepbio.use_backend(name):
            b = deepbio.backend.current()
            drop = Dropout(0.5, random_state=3)
            drop.build((10,), np.random.default_rng(0), "float64")
            corr = Corruption("gaussian", 0.2, random_state=4)
            corr.build((10,), np.random.default_rng(0), "float64")
            rbm = deepbio.RBM(n_components=5, n_iter=1, batch_size=3, dtype="float64",
                              random_state=5).fit((X > 0.5).astype(float))
            out[name] = (b.to_numpy(drop.forward(b.asarray(X), train=True)),
                         b.to_numpy(corr.forward(b.asarray(X), train=True)),
                         rbm.gibbs((X > 0.5).astype(float)), b.to_numpy(rbm.W_))
    ref = out["numpy"]
    assert (ref[0] == 0).any() and (ref[0] != 0).any()
    for name in names[1:]:
        np.testing.assert_array_equal(out[name][0], ref[0], err_msg=name)    # same mask
        np.testing.assert_allclose(out[name][1], ref[1], rtol=1e-12, err_msg=name)
        np.testing.assert_array_equal(out[name][2], ref[2], err_msg=name)    # same samples
        np.testing.assert_allclose(out[name][3], ref[3], rtol=1e-10, atol=1e-13,
                                   err_msg=name)


def test_get_returns_one_object_per_name():
    assert deepbio.backend.get("numpy") is deepbio.backend.get("numpy")


# ---------------------------------------------------------------------- choosing


def test_set_backend(restore_global):
    b = deepbio.set_backend("numpy")
    assert b.name == "numpy" and deepbio.get_backend() == "numpy"
    assert deepbio.backend.current() is b
    for name in deepbio.backends():
        assert deepbio.set_backend(name).name == name
        assert deepbio.get_backend() == name


def test_use_backend_nests_and_restores(restore_global):
    deepbio.set_backend("numpy")
    other = "cython" if "cython" in deepbio.backends() else "numpy"
    with deepbio.use_backend(other) as b1:
        assert b1.name == other and deepbio.get_backend() == other
        with deepbio.use_backend("numpy") as b2:
            assert b2.name == "numpy" and deepbio.get_backend() == "numpy"
        assert deepbio.get_backend() == other
    assert deepbio.get_backend() == "numpy"


def test_use_backend_restores_after_an_exception(restore_global):
    deepbio.set_backend("numpy")
    other = "cython" if "cython" in deepbio.backends() else "numpy"
    with pytest.raises(KeyError):
        with deepbio.use_backend(other):
            with deepbio.use_backend("numpy"):
                raise KeyError("boom")
    assert deepbio.get_backend() == "numpy"
    with pytest.raises(deepbio.BackendError):
        with deepbio.use_backend("nope"):
            pass
    assert deepbio.get_backend() == "numpy"


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k != "DEEPBIO_BACKEND"}
    full["PYTHONPATH"] = ROOT + os.pathsep + full.get("PYTHONPATH", "")
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, cwd=ROOT)


def test_environment_variable_picks_the_backend():
    r = _run("import deepbio; print(deepbio.get_backend())", DEEPBIO_BACKEND="numpy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"
    r = _run("import deepbio; print(deepbio.get_backend())", DEEPBIO_BACKEND=" NumPy ")
    assert r.stdout.strip() == "numpy", r.stderr


def test_default_backend_without_the_variable():
    r = _run("import deepbio; print(deepbio.get_backend())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("cython" if _cython_compiled() else "numpy")


def test_bad_environment_variable_fails_loudly():
    r = _run("import deepbio; deepbio.get_backend()", DEEPBIO_BACKEND="fortran")
    assert r.returncode != 0
    assert "BackendError" in r.stderr and "'fortran'" in r.stderr and "numpy" in r.stderr
    assert "DEEPBIO_BACKEND='fortran'" in r.stderr        # it says where the name came from


def test_set_num_threads_types():
    """NumPy integers are integers; a non-integer is a TypeError, a count < 1 a ValueError."""
    before = deepbio.get_num_threads()
    try:
        deepbio.set_num_threads(np.int64(1))
        assert deepbio.get_num_threads() == 1 and type(deepbio.get_num_threads()) is int
        for bad in (1.5, "2", None, True, np.bool_(True)):
            with pytest.raises(TypeError, match="positive integer"):
                deepbio.set_num_threads(bad)
        for bad in (0, -1, np.int64(0)):
            with pytest.raises(ValueError, match="positive integer"):
                deepbio.set_num_threads(bad)
    finally:
        deepbio.set_num_threads(before)


# ------------------------------------------------------------------------ errors


def test_unknown_name_names_the_choices():
    with pytest.raises(deepbio.BackendError) as e:
        deepbio.set_backend("tensorflow")
    msg = str(e.value)
    assert "'tensorflow'" in msg
    for name in deepbio.backend.NAMES:
        assert name in msg


def _forget(monkeypatch, name):
    monkeypatch.delitem(deepbio.backend._cache, name, raising=False)


@pytest.mark.parametrize("name,package,install", [
    ("cupy", "cupy", "pip install cupy"), ("numba", "numba", "pip install numba")])
def test_missing_gpu_package_says_what_to_install(monkeypatch, name, package, install):
    _forget(monkeypatch, name)
    monkeypatch.setitem(sys.modules, package, None)       # `import package` now fails
    with pytest.raises(deepbio.BackendError) as e:
        deepbio.set_backend(name)
    msg = str(e.value)
    assert f"'{package}'" in msg and "not installed" in msg and install in msg
    assert "GPU" in msg
    assert name not in deepbio.backends()


def test_cupy_without_a_gpu(monkeypatch):
    _forget(monkeypatch, "cupy")

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(deepbio.BackendError,
                       match="'cupy' is unavailable: .*need a usable NVIDIA GPU.*no CUDA "
                             "device or driver.*no CUDA-capable device"):
        deepbio.set_backend("cupy")
    assert "cupy" not in deepbio.backends()


def test_numba_without_a_gpu(monkeypatch):
    """Numba installed, no GPU and no simulator: one BackendError that says so and names
    the simulator switch."""
    cuda = pytest.importorskip("numba.cuda")
    if cuda.is_available():               # True on a GPU and on the simulator
        pytest.skip("a GPU (or the simulator) is usable in this process")
    import deepbio._kernels.numba as numba_kernels
    _forget(monkeypatch, "numba")
    monkeypatch.setattr(numba_kernels, "_runtime", None)
    monkeypatch.setattr(numba_kernels, "_loaded", None)
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    with pytest.raises(deepbio.BackendError, match="no usable CUDA GPU.*NUMBA_ENABLE_CUDASIM"):
        deepbio.set_backend("numba")
    assert "numba" not in deepbio.backends()


def test_cython_not_compiled_is_an_error_not_a_fallback(monkeypatch):
    from deepbio._kernels import cpu
    _forget(monkeypatch, "cython")
    monkeypatch.setattr(cpu, "available", lambda: False)
    with pytest.raises(deepbio.BackendError) as e:
        deepbio.set_backend("cython")
    assert "pip install" in str(e.value) and "compiled" in str(e.value)
    assert "cython" not in deepbio.backends()


def test_failed_set_backend_keeps_the_previous_one(restore_global, monkeypatch):
    deepbio.set_backend("numpy")
    monkeypatch.setitem(sys.modules, "cupy", None)
    _forget(monkeypatch, "cupy")
    with pytest.raises(deepbio.BackendError):
        deepbio.set_backend("cupy")
    assert deepbio.get_backend() == "numpy"


def _fake_gpu_backend(monkeypatch, implementations):
    """A 'cupy' backend over NumPy whose cupy module has the memory API of CuPy (a
    device, a pool, memGetInfo, OutOfMemoryError), installed in the backend cache."""
    import types

    class OutOfMemoryError(MemoryError):          # CuPy's: (size, total), kept as _size
        def __init__(self, size, total):
            self._size, self._total = size, total
            super().__init__(f"Out of memory allocating {size:,} bytes")

    freed = []
    pool = types.SimpleNamespace(used_bytes=lambda: 3 << 30, total_bytes=lambda: 4 << 30,
                                 free_all_blocks=lambda: freed.append(1))

    class FakeCupy(types.ModuleType):
        def __getattr__(self, name):
            return getattr(np, name)

    cp = FakeCupy("cupy")
    cp.ndarray = np.ndarray
    cp.get_default_memory_pool = lambda: pool
    stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)
    cp.cuda = types.SimpleNamespace(
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
        runtime=types.SimpleNamespace(memGetInfo=lambda: (1 << 20, 80 << 30)),
        Device=lambda *a: types.SimpleNamespace(id=1), get_current_stream=lambda: stream)
    be = deepbio.backend.Backend("cupy", cp, implementations, np.ndarray, "a fake GPU")
    monkeypatch.setitem(deepbio.backend._cache, "cupy", be)
    return be, OutOfMemoryError, freed


def test_running_out_of_device_memory_says_how_much(monkeypatch):
    """On a GPU backend an estimator that runs out of device memory raises
    DeviceMemoryError (a MemoryError) giving the bytes asked for, the bytes free and the
    pool's holdings, and what to do; other errors pass unchanged."""
    from deepbio import DeviceMemoryError, MLPClassifier
    from deepbio._kernels import reference_implementations
    impl = reference_implementations()
    holder = {}

    def dense_forward(*args, **kwargs):
        raise holder["oom"](1 << 30, 5 << 30)

    impl["dense_forward"] = dense_forward
    be, oom, freed = _fake_gpu_backend(monkeypatch, impl)
    holder["oom"] = oom
    assert be.device == 1 and be.memory_info() == {
        "free": 1 << 20, "total": 80 << 30, "pool_used": 3 << 30, "pool_held": 4 << 30}
    be.free_memory()
    assert freed == [1]
    X = np.random.default_rng(0).random((20, 3))
    y = np.arange(20) % 2
    with deepbio.use_backend("cupy"):
        with pytest.raises(DeviceMemoryError) as e:
            MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y)
    msg = str(e.value)
    for words in ("backend 'cupy'", "device 1", "allocating 1,073,741,824 bytes (1.0 GiB)",
                  "1,048,576 bytes (1.0 MiB) free of 85,899,345,920 bytes (80.0 GiB)",
                  "uses 3,221,225,472 bytes (3.0 GiB)", "batch_size", "free_memory()"):
        assert words in msg, (words, msg)
    assert isinstance(e.value, MemoryError) and isinstance(e.value.__cause__, oom)
    assert (e.value.requested, e.value.free) == (1 << 30, 1 << 20)
    # the CPU backends and other errors: unchanged
    assert deepbio.backend.get("numpy").out_of_memory(oom(1, 1)) is None
    assert be.out_of_memory(MemoryError("host")) is None
    with pytest.raises(MemoryError, match="host"), be.device_errors():
        raise MemoryError("host")
    with pytest.raises(DeviceMemoryError, match="allocating 8 bytes"), be.device_errors():
        raise oom(8, 0)


def test_every_estimator_method_that_runs_on_the_device_reports_memory():
    """The wrapping is done once, in BaseEstimator, for every public estimator."""
    import deepbio.models as models
    from deepbio.models._base import DEVICE_METHODS
    seen = 0
    for name in models.__all__:
        cls = getattr(models, name)
        if not isinstance(cls, type) or not hasattr(cls, "fit"):
            continue
        for method in DEVICE_METHODS:
            if method in cls.__dict__:
                assert getattr(cls.__dict__[method], "_device_errors", False), (name, method)
                seen += 1
    assert seen > 20
