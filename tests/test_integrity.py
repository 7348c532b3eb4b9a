"""Model-file integrity (issue #16 item 6): every file carries a SHA-256 of each tensor
and of its header; a flipped byte anywhere, or an edited header, is refused with an error
naming the file, what changed and the expected and found digests.  Files written before
the digest (format version 1, deepbio 0.1.0) still load."""
import hashlib
import json
import pathlib
import struct

import numpy as np
import pytest
import safetensors.numpy

import deepbio
from deepbio import MLPClassifier, RBM

rng = np.random.default_rng(0)
X = rng.random((60, 5))
y = np.where(X[:, 0] > 0.5, "a", "b")
RELEASE = pathlib.Path(__file__).resolve().parent / "data" / "release_0_1_0"


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _parts(path):
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return data, n, json.loads(data[8:8 + n])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    model = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    deepbio.save(model, path, metadata={"scaling": {"kind": "standard", "mean": [0.5] * 5}})
    return path, model


def test_file_carries_the_sha256_of_every_tensor(saved):
    path, _ = saved
    data, n, header = _parts(path)
    digests = json.loads(header["__metadata__"]["tensor_digests"])
    names = [k for k in header if k != "__metadata__"]
    assert set(digests) == set(names) and names
    for name in names:
        begin, end = header[name]["data_offsets"]
        assert digests[name] == _sha(data[8 + n + begin:8 + n + end])
    assert header["__metadata__"]["digest"].startswith("sha256:")


def test_a_flipped_byte_in_any_tensor_is_a_clear_error(saved, tmp_path):
    path, _ = saved
    data, n, header = _parts(path)
    digests = json.loads(header["__metadata__"]["tensor_digests"])
    for name in (k for k in header if k != "__metadata__"):
        begin, end = header[name]["data_offsets"]
        for at in sorted({begin, (begin + end) // 2, end - 1}):
            bad = bytearray(data)
            bad[8 + n + at] ^= 0x01                      # one bit of one byte
            p = tmp_path / f"flip-{name}-{at}.safetensors"
            p.write_bytes(bytes(bad))
            found = _sha(bytes(bad[8 + n + begin:8 + n + end]))
            with pytest.raises(ValueError) as e:
                deepbio.load(p)
            msg = str(e.value)
            assert str(p) in msg and "modified or corrupted" in msg
            assert f"tensor {name!r}" in msg
            assert f"expected {digests[name]}, found {found}" in msg


def test_an_edited_header_is_a_clear_error(saved, tmp_path):
    path, _ = saved
    data, n, header = _parts(path)
    text = data[8:8 + n]
    # Same-length edits an editor could make: a hyper-parameter, the user metadata.
    for old, new in ((b'\\"max_iter\\": 2', b'\\"max_iter\\": 3'),
                     (b'\\"standard\\"', b'\\"minmax__\\"')):
        assert text.count(old) == 1, old
        p = tmp_path / "edited.safetensors"
        p.write_bytes(data[:8] + text.replace(old, new) + data[8 + n:])
        with pytest.raises(ValueError) as e:
            deepbio.load(p)
        msg = str(e.value)
        assert str(p) in msg and "modified or corrupted" in msg and "header" in msg
        expected = header["__metadata__"]["digest"]
        assert f"expected {expected}, found sha256:" in msg
        assert msg.split("found ")[-1].rstrip(")") != expected


def test_the_digest_does_not_get_in_the_way_of_user_metadata(saved):
    path, model = saved
    loaded, meta = deepbio.load(path, return_metadata=True)
    assert meta == {"scaling": {"kind": "standard", "mean": [0.5] * 5}}
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_files_written_without_a_digest_still_load(tmp_path):
    # A file as deepbio 0.1.0 wrote it (format version 1: no tensor digests, no digest).
    # Its document: what save writes today, as format version 1.
    model = RBM(3, n_iter=2, random_state=0).fit((X > 0.5).astype(float))
    new = tmp_path / "new.safetensors"
    deepbio.save(model, new, metadata={"note": "old"})
    doc = json.loads(_parts(new)[2]["__metadata__"]["deepbio"])
    doc["format_version"] = 1
    tensors = safetensors.numpy.load_file(str(new))
    p = tmp_path / "old.safetensors"
    safetensors.numpy.save_file(tensors, str(p),
                                metadata={"format": "deepbio", "deepbio": json.dumps(doc)})
    assert "digest" not in _parts(p)[2]["__metadata__"]
    loaded, meta = deepbio.load(p, return_metadata=True)
    assert meta == {"note": "old"}
    np.testing.assert_array_equal(loaded.W_, model.W_)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    # The committed files of the 0.1.0 release load too (tests/models/test_persist_release
    # checks their predictions).
    old = sorted(RELEASE.glob("*.safetensors"))
    assert old
    for f in old:
        assert "digest" not in _parts(f)[2]["__metadata__"]
        deepbio.load(f)


def test_a_current_file_with_its_digest_removed_is_refused(saved, tmp_path):
    path, _ = saved
    tensors = safetensors.numpy.load_file(str(path))
    meta = _parts(path)[2]["__metadata__"]
    stripped = {k: v for k, v in meta.items() if k not in ("digest", "tensor_digests")}
    p = tmp_path / "stripped.safetensors"
    safetensors.numpy.save_file(tensors, str(p), metadata=stripped)
    with pytest.raises(ValueError, match="must carry a digest"):
        deepbio.load(p)
