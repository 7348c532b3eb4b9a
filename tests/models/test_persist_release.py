"""Files written by the previous release (deepbio 0.1.0, file format version 1, no digest)
still load, pass every check, and predict what that release predicted.

The files and their expected outputs are in ``tests/data/release_0_1_0/``, written by
``make_fixtures.py`` there with the code of commit eb141ca on the NumPy backend; the
comparison runs on the NumPy backend too.  Labels, dtypes and the loaded tensors must be
bit-identical.  Floating-point outputs pass through BLAS, whose summation order depends on
the CPU's kernel (AVX2 or AVX-512) and the thread count, so on another machine they may
differ in the last bits (seen: 1.7e-14 relative for a float64 model, 3e-8 for float32).
They are compared to 1000 units in the last place of the model's own float dtype,
relative to the output's scale: far below what any format error (a transposed, missing
or mis-typed tensor) would cause.
"""
import json
import pathlib
import struct

import numpy as np
import pytest

import deepbio
from deepbio import io as dio
from deepbio.models import REGISTRY

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "release_0_1_0"
FILES = sorted(p.stem for p in DATA.glob("*.safetensors"))
#: estimator classes added after 0.1.0, so that release wrote no file of them (their
#: save / load round trips are tested with the classes themselves)
ADDED_AFTER_0_1_0 = {"RNNRegressor", "DBM", "DBMClassifier", "SPN", "ISA", "StackedISA", "GSN",
                     "ConvRBM", "ConvDBN"}
#: hyper-parameters added after 0.1.0, per class: a release file saved again carries them
#: at their defaults (which keep the release's behaviour), and nothing else new
PARAMS_ADDED_AFTER_0_1_0 = {"RBM": {"monitor": 1}}


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "expected.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _call(method, args, inputs):
    values = [inputs[a] for a in args]
    if "mask" in args:
        return method(*values[:-1], mask=values[-1])
    return method(*values)


def _outputs(stem, expected):
    prefix = stem + "."
    return sorted(k[len(prefix):] for k in expected
                  if k.startswith(prefix) and not k.endswith(".args"))



def test_every_registered_class_has_a_release_file():
    classes = set()
    for stem in FILES:
        (n,) = struct.unpack("<Q", (DATA / f"{stem}.safetensors").read_bytes()[:8])
        header = json.loads((DATA / f"{stem}.safetensors").read_bytes()[8:8 + n])
        doc = json.loads(header["__metadata__"]["deepbio"])
        assert doc["format_version"] == 1 and "digest" not in header["__metadata__"]
        classes.add(doc["model"]["class"])
    assert classes == set(REGISTRY) - ADDED_AFTER_0_1_0


@pytest.mark.parametrize("stem", FILES)
def test_release_file_loads_and_predicts_exactly(stem, expected):
    inputs = {k[len("input."):]: v for k, v in expected.items() if k.startswith("input.")}
    model, meta = deepbio.load(DATA / f"{stem}.safetensors", return_metadata=True)
    tensors, _ = dio.read_container(DATA / f"{stem}.safetensors")
    eps = max(np.finfo(t.dtype).eps for t in tensors.values()
              if np.issubdtype(t.dtype, np.floating))
    assert meta["fixture"] == stem
    outputs = _outputs(stem, expected)
    assert outputs
    with deepbio.use_backend("numpy"):
        for name in outputs:
            args = [str(a) for a in expected[f"{stem}.{name}.args"]]
            got = _call(getattr(model, name), args, inputs)
            want = expected[f"{stem}.{name}"]
            assert got.dtype == want.dtype, name
            if np.issubdtype(want.dtype, np.floating):
                tol = 1000 * eps
                np.testing.assert_allclose(got, want, rtol=tol,
                                           atol=tol * float(np.max(np.abs(want))),
                                           err_msg=f"{stem}.{name}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{stem}.{name}")


@pytest.mark.parametrize("stem", FILES)
def test_release_file_saved_again_is_a_current_file_with_the_same_tensors(stem, tmp_path):
    old = DATA / f"{stem}.safetensors"
    model = deepbio.load(old)
    new = tmp_path / "again.safetensors"
    deepbio.save(model, new)
    before, doc_before = dio.read_container(old)
    after, doc_after = dio.read_container(new)
    assert doc_before["format_version"] == 1 and doc_after["format_version"] == dio.FORMAT_VERSION
    assert before.keys() == after.keys()
    for k in before:
        assert before[k].dtype == after[k].dtype
        np.testing.assert_array_equal(before[k], after[k])
    # the same document, but for the tensor dtypes that version 2 declares in it

    # and for the parameters added since, at their defaults

    def strip(v):
        if isinstance(v, dict):
            out = {k: strip(x) for k, x in v.items()
                   if not (k == "dtype" and "__tensor__" in v)}
            added = PARAMS_ADDED_AFTER_0_1_0.get(v.get("class"), {})
            if added and isinstance(out.get("params"), dict):
                for name, default in added.items():
                    assert out["params"].pop(name) == default, (v["class"], name)
            return out
        return [strip(x) for x in v] if isinstance(v, list) else v
    assert strip(doc_after["model"]) == doc_before["model"]
