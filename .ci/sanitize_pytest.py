"""Start pytest (or run ``--check CODE``) in a process that has the sanitizer runtimes
preloaded, then drop LD_PRELOAD from the environment so that no child process (nvcc,
compilers, subprocess-based tests) inherits them: they are not built for it, and nvcc
crashes with libasan preloaded.  pytest's exit status is written to $DEEPBIO_SANITIZE_RC,
because LeakSanitizer replaces the process's exit status when it reports at exit."""
import os
import sys

os.environ.pop("LD_PRELOAD", None)
# The checkout this script is in (the sanitized copy) comes first on sys.path, before any
# installed or editable deepbio; pytest's rootdir insertion would do it only for pytest.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if sys.argv[1:2] == ["--check"]:
    exec(compile(sys.argv[2], "<check>", "exec"))
    import deepbio
    assert os.path.dirname(os.path.abspath(deepbio.__file__)) == os.path.join(ROOT, "deepbio"), \
        f"imported {deepbio.__file__}, not the sanitized copy in {ROOT}"
    sys.exit(0)

import pytest  # noqa: E402

rc = int(pytest.main(sys.argv[1:]))
path = os.environ.get("DEEPBIO_SANITIZE_RC")
if path:
    with open(path, "w") as fh:
        fh.write(f"{rc}\n")
sys.exit(rc)
