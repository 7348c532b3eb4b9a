"""Read the ASan / UBSan / LSan report files of a .ci/sanitize run (argument: their
directory) and exit 1 if any shows a problem in deepbio.

* an AddressSanitizer error (heap overflow, use after free, ...) or an UBSan
  ``runtime error``: always a failure;
* a LeakSanitizer report: a failure when one of its leaks has a stack frame in a deepbio
  extension module (a ``deepbio/_kernels`` .so, or a Cython ``__pyx_..._7deepbio`` name);
  leaks entirely inside CPython / NumPy / the OpenMP runtime are listed and ignored."""
import pathlib
import re
import sys

DEEPBIO_FRAME = re.compile(r"deepbio/_kernels/\S*\.so|__pyx_\w*7deepbio|deepbio/_kernels/cpu/\w+\.c")


def leaks(text):
    """The leak blocks ("Direct leak of ..." / "Indirect leak of ..." and their frames)."""
    return re.split(r"\n(?=(?:Direct|Indirect) leak of )", text)[1:]


def main(folder):
    bad = 0
    files = sorted(pathlib.Path(folder).glob("*"))
    n_leaks, ignored = 0, []
    for f in files:
        text = f.read_text(errors="replace")
        if re.search(r"ERROR: AddressSanitizer|runtime error:", text):
            print(f"--- {f.name}: sanitizer error ---\n{text[:20000]}")
            bad += 1
            continue
        for block in leaks(text):
            n_leaks += 1
            if DEEPBIO_FRAME.search(block):
                print(f"--- {f.name}: leak from deepbio ---\n{block[:8000]}")
                bad += 1
            else:
                ignored.append(f"{f.name}: {block.splitlines()[0]}")
    for line in ignored[:10]:
        print(f"(ignored, no deepbio frame) {line}")
    print(f"sanitizer reports: {len(files)} file(s), {n_leaks} leak(s) outside the "
          f"suppressions ({len(ignored)} without a deepbio frame, ignored), {bad} deepbio "
          f"problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
