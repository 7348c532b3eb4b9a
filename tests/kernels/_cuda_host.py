"""The CUDA C kernels on the host: a build of every ``.cu`` file through ``cuda_host.h``
and a ``cupy`` stand-in whose ``RawModule`` launches them (see test_cuda_sources.py).

Shared by the kernel tests (``tests/kernels/test_cuda_sources.py``) and the backend tests
(``tests/test_cupy_backend.py``), which run whole models on the ``cupy`` backend with
this stand-in in place of CuPy.
"""
import ctypes
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np

from deepbio._kernels import cuda

CUDA_DIR = Path(cuda.__file__).resolve().parent
FAMILIES = sorted(cuda.SOURCES)
GXX = shutil.which("g++")
GXX_FLAGS = ["-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-Wall", "-Wextra",
             "-Werror"]


def name_expressions(family):
    """Every name expression of ``family``, float then double, each once."""
    out = []
    for ctype in ("float", "double"):
        for e in cuda.SOURCES[family]:
            if e.format(T=ctype) not in out:
                out.append(e.format(T=ctype))
    return out


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def build_host_library(out):
    """Compile every ``.cu`` for the host into ``out``; returns ``(ctypes.CDLL, symbols)``.
    AssertionError with the compiler's log if the build fails."""
    text, symbols = _host_source()
    (out / "all_kernels.cpp").write_text(text)
    lib = out / "deepbio_cuda_host.so"
    rc, log = run([GXX, *GXX_FLAGS, f"-I{CUDA_DIR}", "-o", str(lib), "all_kernels.cpp"], out)
    assert rc == 0, f"host build of the .cu sources failed:\n{log}"
    return ctypes.CDLL(str(lib)), symbols


def _host_source():
    """One C++ file: the header, every .cu, one launch shim + one signature per kernel."""
    lines = ['#include "cuda_host.h"']
    lines += [f'#include "{family}.cu"' for family in FAMILIES]
    symbols = {}
    for family in FAMILIES:
        for e in name_expressions(family):
            if e in symbols:
                continue                        # column_sums<T> serves several families
            i = len(symbols)
            symbols[e] = i
            lines.append(f'extern "C" int deepbio_launch_{i}(unsigned g, unsigned b, void** a, '
                         f'const long long* s, int n) {{ return deepbio_host::launch_packed('
                         f'&{e}, g, b, a, s, n); }}')
            lines.append(f'extern "C" const char* deepbio_signature_{i}() {{ static const '
                         f'std::string s = deepbio_host::signature(&{e}); return s.c_str(); }}')
    return "\n".join(lines) + "\n", symbols


_CODE_DTYPE = {"f": np.float32, "d": np.float64, "i": np.int32, "I": np.uint32,
               "q": np.int64, "Q": np.uint64}


class HostKernel:
    """A compiled kernel as ``cupy.RawModule.get_function`` returns it: call it with
    ``(grid, block, args)``; it checks every argument against the kernel's parameters."""

    def __init__(self, lib, index, name, launched):
        self.name, self.launched = name, launched
        self._launch = getattr(lib, f"deepbio_launch_{index}")
        self._launch.restype = ctypes.c_int
        sig = getattr(lib, f"deepbio_signature_{index}")
        sig.restype = ctypes.c_char_p
        self.params = sig().decode().split()

    def _pack(self, i, code, a):
        where = f"{self.name}: argument {i}"
        if code.startswith("P"):
            if isinstance(a, np.uintp) and int(a) == 0:
                return ctypes.c_void_p(0), 8                    # NULL
            assert isinstance(a, np.ndarray), f"{where} must be an array, got {type(a)}"
            assert a.dtype == _CODE_DTYPE[code[1]], \
                f"{where}: kernel reads {np.dtype(_CODE_DTYPE[code[1]])}, got {a.dtype}"
            assert a.flags.c_contiguous, f"{where}: array is not C-contiguous"
            return ctypes.c_void_p(a.ctypes.data), 8
        assert isinstance(a, np.generic), \
            f"{where} must be a NumPy scalar of {np.dtype(_CODE_DTYPE[code])}, got {a!r}"
        assert a.dtype == _CODE_DTYPE[code], \
            f"{where}: kernel takes {np.dtype(_CODE_DTYPE[code])}, got {a.dtype}"
        buf = ctypes.create_string_buffer(a.tobytes(), a.itemsize)
        return buf, a.itemsize

    def __call__(self, grid, block, args, shared_mem=0):
        assert len(grid) == len(block) == 1 and shared_mem == 0, (grid, block, shared_mem)
        assert 1 <= block[0] <= 256 and block[0] & (block[0] - 1) == 0, block
        assert len(args) == len(self.params), \
            f"{self.name}: {len(args)} arguments, the kernel takes {len(self.params)}"
        packed = [self._pack(i, c, a) for i, (c, a) in enumerate(zip(self.params, args))]
        ptrs = (ctypes.c_void_p * len(packed))(
            *[ctypes.cast(ctypes.pointer(v) if isinstance(v, ctypes.c_void_p) else v,
                          ctypes.c_void_p) for v, _ in packed])
        sizes = (ctypes.c_longlong * len(packed))(*[s for _, s in packed])
        rc = self._launch(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), ptrs, sizes,
                          ctypes.c_int(len(packed)))
        assert rc == 0, f"{self.name}: launch_packed returned {rc}"
        self.launched.add(self.name)


def fake_cupy(library, launched):
    """A ``cupy`` stand-in: NumPy for the arrays, the host library for RawModule."""
    lib, symbols = library
    sources = {(CUDA_DIR / f"{f}.cu").read_text(): f for f in FAMILIES}
    shipped = name_expressions            # (RawModule's own argument has this name)

    class RawModule:
        def __init__(self, code, options=(), name_expressions=()):
            assert code in sources, "RawModule code is not one of the shipped .cu files"
            assert "--std=c++17" in options
            assert any(o.startswith("-I") and Path(o[2:]).is_dir() for o in options), options
            self.names = tuple(name_expressions)
            assert set(self.names) <= set(shipped(sources[code]))

        def get_function(self, name):
            assert name in self.names, f"{name} is not among this module's name expressions"
            return HostKernel(lib, symbols[name], name, launched)

    class FakeCupy(types.ModuleType):
        def __getattr__(self, name):
            return getattr(np, name)

    cp = FakeCupy("cupy")
    cp.RawModule = RawModule
    cp.ndarray = np.ndarray
    stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)   # launches are synchronous
    cp.cuda = types.SimpleNamespace(
        Device=lambda *a: types.SimpleNamespace(id=0),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        get_current_stream=lambda: stream)
    return cp


