"""Write the seed corpora under corpus/ (run from the repository root:
``python -m tests.fuzz.make_corpus``).  Small, valid inputs of each harness plus a few
edge cases; the committed files are what this writes."""
import bz2
import gzip
import io
import lzma
import pathlib
import shutil

import numpy as np

from ._common import CORPUS


def _put(name, seeds):
    d = CORPUS / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for i, data in enumerate(seeds):
        (d / f"seed-{i:02d}").write_bytes(data)


def fasta():
    return [b">s1 first\nACGT\nacgt\n>s2\nNNNN\n", b">p\r\nMKV*\r\n;comment\n>q\n",
            gzip.compress(b">g\nACGTACGT\n"), b"", b">\n", b"AC\n>x\n", b"\xef\xbb\xbf>bom\nA\n"]


def expression():
    csv = b"gene,a,b,c\ns1,1,2,3\ns2,4.5,-1e-3,.5\n"
    tsv = b"\tg1\tg2\ns1\t1\tNA\ns2\t2\t3\n"
    gct = b"#1.2\n2\t2\nName\tDescription\ts1\ts2\ng1\td1\t1\t2\ng2\td2\t3\t4\n"
    return [bytes([0]) + csv, bytes([1 | 16]) + tsv, bytes([2]) + gct,
            bytes([0 | 32]) + csv, bytes([3 | 8]) + gzip.compress(gct, mtime=0),
            bytes([0]) + b'"x","y"\n"r",1\n', bytes([1]) + b"\n\n",
            bytes([1]) + bz2.compress(tsv), bytes([0]) + lzma.compress(csv),
            bytes([1]) + _corrupt(bz2.compress(tsv * 20)),     # finding 4 (bz2 OSError)
            bytes([0]) + _corrupt(lzma.compress(csv * 20))]


def _corrupt(data):
    """``data`` with two bytes in its middle flipped (a corrupt compressed stream)."""
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    b[len(b) // 2 + 1] ^= 0x55
    return bytes(b)


def load():
    import deepbio
    from deepbio import CNNClassifier, MLPClassifier, MLPRegressor, RBM
    from ._common import scratch
    rng = np.random.default_rng(0)
    X = rng.random((20, 4))
    y = (X[:, 0] > 0.5).astype(int)
    models = [RBM(2, n_iter=1, random_state=0).fit(X),
              MLPClassifier((3,), max_iter=1, random_state=0).fit(X, np.array(["a", "b"])[y]),
              MLPRegressor((), max_iter=1, random_state=0).fit(X, X[:, 0]),
              CNNClassifier(filters=(2,), kernel_size=2, hidden_layer_sizes=(), max_iter=1, random_state=0)
              .fit(X.reshape(20, 1, 4), y),
              MLPClassifier((2,))]
    seeds = []
    for m in models:
        p = scratch("seed.safetensors")
        deepbio.save(m, p, metadata={"scaling": {"kind": "standard"}})
        data = pathlib.Path(p).read_bytes()
        seeds += [b"\0" + data, b"\1" + data]
    return seeds + [b"\0", b"\1" + b"\x10" + b"\0" * 7 + b'{"a":1}']


def kernels():
    rng = np.random.default_rng(0)
    from deepbio._kernels import CONTRACT
    # One seed per kernel (its index in sorted(CONTRACT) is the first byte's draw), with
    # no mutation, then the same kernels with random bytes (random sizes and mutations).
    n = len(CONTRACT)
    plain = [bytes([i, 0, 0, 0]) for i in range(n)]
    noisy = [bytes([i]) + bytes(rng.integers(0, 256, 48, dtype=np.uint8)) for i in range(n)]
    return plain + noisy


def cli():
    return [b"\x00", b"\x01\x00\x01", b"\x02\x01\x00\x01\x02",
            b"\x00\x01model = \"RBM\"\n[params]\nn_components = 2\n",
            b"\x00\x01\x01scale = 3\n", b"\x00\x01\x01[params\n"]


def main():
    for name, make in (("fasta", fasta), ("expression", expression), ("load", load),
                       ("kernels", kernels), ("cli", cli)):
        _put(name, make())
        print(name, len(list((CORPUS / name).iterdir())), "seeds")


if __name__ == "__main__":
    main()
