"""``python -m tests.fuzz NAME [libFuzzer flags] [corpus dirs]``: run harness NAME under
atheris, with coverage instrumentation of deepbio's modules only (instrumenting every
loaded module, NumPy's included, costs a minute at start-up and guides nothing)."""
import importlib
import sys

import atheris

from ._common import HARNESSES, quiet

if len(sys.argv) < 2 or sys.argv[1] not in HARNESSES:
    sys.exit(f"usage: python -m tests.fuzz {{{','.join(HARNESSES)}}} [libFuzzer flags] [dirs]")
name = sys.argv.pop(1)
with atheris.instrument_imports(include=["deepbio"]):
    import deepbio                    # noqa: F401
    import deepbio.cli                # noqa: F401
    import deepbio.datasets           # noqa: F401
    harness = importlib.import_module(f"tests.fuzz.fuzz_{name}")
quiet()
atheris.Setup(sys.argv, harness.TestOneInput)
atheris.Fuzz()
