"""Build script for deepbio's compiled CPU kernels (metadata lives in pyproject.toml).

* Every ``deepbio/_kernels/cpu/*.pyx`` becomes the extension
  ``deepbio._kernels.cpu.<name>``: a new kernel file builds with no edit here.
* Release build: ``-O3 -fno-math-errno`` (portable: no ``-march``; the kernels never
  read ``errno``, and without it the compiler may vectorise ``sqrt``, which is exact
  either way), Cython bounds/wraparound/initialisation checks off.  ``DEEPBIO_DEBUG_BUILD=1`` at build time turns those
  checks on and compiles with ``-O0 -g``.
* ``DEEPBIO_SANITIZE=1`` compiles and links with AddressSanitizer + UndefinedBehavior
  Sanitizer (``-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1``); such a
  build only imports into a Python that preloads libasan (``.ci/sanitize`` does it and
  runs the kernel tests; docs/reliability.md).
* OpenMP (``-fopenmp``) is used when a tiny test program compiles and links with it;
  otherwise the kernels build serial and a notice is printed.
  ``DEEPBIO_NO_OPENMP=1`` skips OpenMP on purpose.
* Besides the normal build, the compiled modules are copied next to their ``.pyx``
  (as ``build_ext --inplace`` does), so that ``python -m pytest`` run from the repo
  root, which imports ``deepbio`` from the source tree, tests the kernels just built.
"""
import glob
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CPU_DIR = "deepbio/_kernels/cpu"
STAMP = HERE / "build" / ".deepbio-build-mode"


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DEBUG = _flag("DEEPBIO_DEBUG_BUILD")
NO_OPENMP = _flag("DEEPBIO_NO_OPENMP")
SANITIZE = _flag("DEEPBIO_SANITIZE")
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
}

OPENMP_TEST = textwrap.dedent(
    """\
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _extensions():
    os.chdir(HERE)   # cythonize and Extension want paths relative to the project root
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    if DEBUG:
        macros.append(("DEEPBIO_DEBUG_BUILD", "1"))
    else:
        macros.append(("NDEBUG", None))
    if SANITIZE:
        macros.append(("DEEPBIO_SANITIZE_BUILD", "1"))
    exts = []
    for pyx in sorted(glob.glob(f"{CPU_DIR}/*.pyx")):
        name = Path(pyx).stem
        exts.append(Extension(f"deepbio._kernels.cpu.{name}", [pyx], define_macros=macros))
    if not exts:
        return []
    from Cython.Build import cythonize

    # Regenerate the C sources when the build mode changed since the last build in
    # this tree (the C code differs with the directives; timestamps alone would keep
    # a stale release .c for a debug build and vice versa).
    mode = f"debug={DEBUG} openmp_disabled={NO_OPENMP} sanitize={SANITIZE}"
    force = not STAMP.exists() or STAMP.read_text() != mode
    exts = cythonize(exts, compiler_directives=DIRECTIVES, force=force, quiet=True)
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(mode)
    return exts


def _openmp_flags(compiler):
    """(compile_args, link_args) for OpenMP if a test program builds with them, else None."""
    if compiler.compiler_type == "msvc":
        flags = (["/openmp"], [])
    else:
        flags = (["-fopenmp"], ["-fopenmp"])
    tmp = tempfile.mkdtemp(prefix="deepbio-omp-")
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags[0])
        compiler.link_executable(objs, "omp_test", output_dir=tmp, extra_postargs=flags[1])
    except Exception:   # CompileError / LinkError: no usable OpenMP
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return flags


class BuildExt(build_ext):
    """Probe OpenMP, set optimisation flags, build in parallel, copy the results in place."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        if msvc:
            opt = ["/Od", "/Zi"] if DEBUG else ["/O2"]
        else:
            opt = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-fno-math-errno"]
        link = []
        if SANITIZE:
            if msvc:
                raise SystemExit("deepbio: DEEPBIO_SANITIZE=1 needs gcc or clang, not MSVC")
            # The sanitizer flags come last, so their -O1 wins over -O3 / -O0.
            opt, link = opt + SANITIZE_FLAGS, ["-fsanitize=address,undefined"]
        omp = None if NO_OPENMP else _openmp_flags(self.compiler)
        if omp is None:
            why = "DEEPBIO_NO_OPENMP is set" if NO_OPENMP else "the C compiler has no usable OpenMP"
            print(f"deepbio: NOTICE: building the Cython kernels WITHOUT OpenMP ({why}); "
                  "they will run on one thread.", file=sys.stderr)
            omp = ([], [])
        mode = "debug (bounds checks on, -O0 -g)" if DEBUG else "release"
        if SANITIZE:
            mode += ", AddressSanitizer + UBSan"
        print(f"deepbio: building {len(self.extensions)} Cython extension(s), {mode}, "
              f"compile flags {opt + omp[0]}", file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args) + opt + omp[0]
            ext.extra_link_args = list(ext.extra_link_args) + omp[1] + link
        super().build_extensions()

    def run(self):
        super().run()
        if not self.inplace and self.extensions:
            self.copy_extensions_to_source()


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
