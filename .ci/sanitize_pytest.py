"""Start pytest in a process that has the sanitizer runtimes preloaded, after checking
that the deepbio it imports is the sanitized build of this checkout.  LD_PRELOAD is
dropped from the environment first, so that no child process (nvcc, compilers,
subprocess-based tests) inherits the runtimes: they are not built for it, and nvcc
crashes with libasan preloaded.  pytest's exit status is written to $DEEPBIO_SANITIZE_RC,
because LeakSanitizer replaces the process's exit status when it reports at exit."""
import os
import sys

os.environ.pop("LD_PRELOAD", None)
# The checkout this script is in (the sanitized copy) comes first on sys.path, before any
# installed or editable deepbio; pytest's rootdir insertion would do it only for pytest.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# First make sure this really is the sanitized build of this copy (in the same process:
# every interpreter start under ASan with PYTHONMALLOC=malloc costs a minute).
import deepbio  # noqa: E402
from deepbio._kernels.cpu import build_info  # noqa: E402

info = build_info()
print(f"deepbio from {os.path.dirname(deepbio.__file__)}, build_info() = {info}", flush=True)
if os.path.dirname(os.path.abspath(deepbio.__file__)) != os.path.join(ROOT, "deepbio"):
    sys.exit(f"imported {deepbio.__file__}, not the sanitized copy in {ROOT}")
if not info.get("sanitize"):
    sys.exit("the kernels are not a DEEPBIO_SANITIZE=1 build")

import pytest  # noqa: E402

rc = int(pytest.main(sys.argv[1:]))
path = os.environ.get("DEEPBIO_SANITIZE_RC")
if path:
    with open(path, "w") as fh:
        fh.write(f"{rc}\n")
sys.exit(rc)
