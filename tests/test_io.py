"""Model files: round trips for every model, atomic saves, and refusal of bad files."""
import json
import os
import pickle
import stat
import struct
import sys

import numpy as np
import pytest
import safetensors.numpy

import deepbio
from deepbio import (DBN, RBM, AutoEncoder, DBNClassifier, DBNRegressor, MLPClassifier,
                     MLPRegressor, StackedAutoEncoder, StackedAutoEncoderClassifier,
                     StackedAutoEncoderRegressor)
from deepbio import io as dio

rng = np.random.default_rng(0)
X = (rng.random((80, 6)) < 0.5).astype(float)
y = np.where(X[:, 0] + X[:, 1] > 1, "tumour", "normal")
y_reg = X @ np.arange(6.0)

MODELS = [
    (RBM(5, n_iter=2, random_state=0), None, "transform"),
    (RBM(5, visible="gaussian", persistent=True, n_iter=2, random_state=0), None,
     "transform"),
    (DBN((5, 3), n_iter=2, random_state=0), None, "transform"),
    (AutoEncoder(3, max_iter=2, random_state=0), None, "reconstruct"),
    (AutoEncoder(3, tied=False, sparsity_target=0.2, corruption="mask", max_iter=2,
                 random_state=0), None, "reconstruct"),
    (StackedAutoEncoder((4, 2), max_iter=2, include_input=True, random_state=0), None,
     "transform"),
    (DBNClassifier((5,), pretrain_epochs=2, max_iter=2, random_state=0), y,
     "predict_proba"),
    (DBNRegressor((5,), pretrain_epochs=2, max_iter=2, random_state=0), y_reg, "predict"),
    (StackedAutoEncoderClassifier((5,), pretrain_epochs=2, max_iter=2, random_state=0), y,
     "predict_proba"),
    (StackedAutoEncoderRegressor((5,), pretrain_epochs=2, max_iter=2, random_state=0),
     y_reg, "predict"),
    (MLPClassifier((4, 3), dropout=0.1, max_iter=2, dtype="float64", random_state=0), y,
     "predict_proba"),
    (MLPRegressor((), max_iter=2, random_state=0), np.column_stack([y_reg, -y_reg]),
     "predict"),
]


@pytest.mark.parametrize("model,target,method", MODELS,
                         ids=[f"{type(m).__name__}-{i}" for i, (m, _, _) in enumerate(MODELS)])
def test_round_trip_predicts_identically(tmp_path, model, target, method):
    model = model.fit(X) if target is None else model.fit(X, target)
    path = tmp_path / "model.safetensors"
    assert deepbio.save(model, path) == str(path)
    loaded = deepbio.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    if target is not None and method == "predict_proba":
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        assert loaded.classes_.tolist() == ["normal", "tumour"]
    hist = getattr(model, "history_", None)
    if hist is not None:
        assert loaded.history_ == hist
    # a loaded model can be saved again, with the same tensors
    deepbio.save(loaded, tmp_path / "again.safetensors")
    first = safetensors.numpy.load_file(str(path))
    again = safetensors.numpy.load_file(str(tmp_path / "again.safetensors"))
    assert first.keys() == again.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])


def test_loaded_model_keeps_training(tmp_path):
    rbm = RBM(4, n_iter=2, random_state=0).fit(X)
    rbm.save(tmp_path / "rbm.safetensors")
    loaded = RBM.load(tmp_path / "rbm.safetensors")
    loaded.partial_fit(X)
    assert len(loaded.history_) == 3
    pcd = RBM(4, persistent=True, sparsity_target=0.1, n_iter=2, random_state=0).fit(X)
    pcd.save(tmp_path / "pcd.safetensors")
    assert len(deepbio.load(tmp_path / "pcd.safetensors").partial_fit(X).history_) == 3
    ae = AutoEncoder(3, max_iter=2, random_state=0).fit(X)
    ae.save(tmp_path / "ae.safetensors")
    assert deepbio.load(tmp_path / "ae.safetensors").partial_fit(X).n_iter_ == 3
    mlp = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    mlp.save(tmp_path / "mlp.safetensors")
    again = deepbio.load(tmp_path / "mlp.safetensors").partial_fit(X, y)
    assert again.n_iter_ == 3
    with pytest.raises(ValueError, match="holds a MLPClassifier, not a RBM"):
        RBM.load(tmp_path / "mlp.safetensors")


def test_unfitted_model_and_user_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    deepbio.save(DBNClassifier(hidden_layer_sizes=(7, 3), learning_rate=0.2), path,
             metadata={"scaler": {"mean": [1.0, 2.0]}, "note": "demo"})
    model, meta = deepbio.load(path, return_metadata=True)
    assert model.hidden_layer_sizes == (7, 3) and model.learning_rate == 0.2
    assert not hasattr(model, "coefs_")
    assert meta == {"scaler": {"mean": [1.0, 2.0]}, "note": "demo"}
    with pytest.raises(ValueError, match="not JSON"):
        deepbio.save(RBM(), path, metadata={"bad": object()})
    with pytest.raises(TypeError, match="deepbio estimator"):
        deepbio.save(object(), path)


def test_file_layout_is_safetensors_plus_json(tmp_path):
    model = MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y)
    path = tmp_path / "m.safetensors"
    model.save(path)
    tensors = safetensors.numpy.load_file(str(path))
    assert set(tensors) == {"coefs_.0", "coefs_.1", "intercepts_.0", "intercepts_.1"}
    with safetensors.safe_open(str(path), "np") as f:
        meta = f.metadata()
    doc = json.loads(meta["deepbio"])
    assert meta["format"] == "deepbio"
    assert doc["format_version"] == dio.FORMAT_VERSION
    assert doc["deepbio_version"] == deepbio.__version__
    assert doc["model"]["class"] == "MLPClassifier"
    assert doc["model"]["params"]["hidden_layer_sizes"] == {"__tuple__": [4]}
    assert doc["model"]["attributes"]["classes_"] == {"__array__": ["normal", "tumour"],
                                                      "dtype": "str"}


# ------------------------------------------------------------------ atomic saves


def _earlier(tmp_path):
    path = tmp_path / "model.safetensors"
    RBM(3, n_iter=1, random_state=0).fit(X).save(path)
    return path, path.read_bytes()


def _leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "model.safetensors")


@pytest.mark.parametrize("where", [
    "write", "fsync", "replace",
    pytest.param("fchmod", marks=pytest.mark.skipif(not hasattr(os, "fchmod"),
                                                   reason="no os.fchmod"))])
def test_failed_save_leaves_earlier_file_intact(tmp_path, monkeypatch, where):
    path, before = _earlier(tmp_path)
    model = RBM(4, n_iter=1, random_state=1).fit(X)
    if where == "write":
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, fh):
                self.fh = fh

            def write(self, data):
                self.fh.write(data[:len(data) // 2])
                raise OSError("disk full")

            def __getattr__(self, name):
                return getattr(self.fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()
                return False

        monkeypatch.setattr(dio.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd,
                                                                                    mode)))
    else:
        def boom(*args, **kwargs):
            raise OSError(f"{where} failed")
        monkeypatch.setattr(dio.os, where, boom)
    with pytest.raises(OSError):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    loaded = deepbio.load(path)
    assert loaded.n_components == 3


def test_save_replaces_and_writes_no_stray_files(tmp_path):
    path, before = _earlier(tmp_path)
    RBM(4, n_iter=1, random_state=1).fit(X).save(path)
    assert path.read_bytes() != before and deepbio.load(path).n_components == 4
    assert _leftovers(tmp_path) == []


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_permissions_follow_umask_or_the_replaced_file(tmp_path):
    model = RBM(3)
    old = os.umask(0o022)
    try:
        deepbio.save(model, tmp_path / "a.safetensors")
        assert _mode(tmp_path / "a.safetensors") == 0o644      # was 0o600 (mkstemp's)
        os.umask(0o027)
        deepbio.save(model, tmp_path / "b.safetensors")
        assert _mode(tmp_path / "b.safetensors") == 0o640
        # replacing an existing file keeps that file's permissions, not the umask's
        os.chmod(tmp_path / "a.safetensors", 0o604)
        deepbio.save(model, tmp_path / "a.safetensors")
        assert _mode(tmp_path / "a.safetensors") == 0o604
    finally:
        os.umask(old)


def test_umask_is_read_without_proc_too(monkeypatch):
    old = os.umask(0o027)
    try:
        assert dio._umask() == 0o027                        # /proc/self/status on Linux

        def no_proc(*args, **kwargs):
            raise OSError("no /proc here")
        monkeypatch.setattr(dio, "open", no_proc, raising=False)
        assert dio._umask() == 0o027                        # the os.umask round trip
        assert os.umask(0o027) == 0o027                     # ... which restored it
    finally:
        os.umask(old)


def _symlink_or_skip(target, link):
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("cannot create symbolic links here")


def test_save_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    real = store / "real.safetensors"
    RBM(3, n_iter=1, random_state=0).fit(X).save(real)
    link = tmp_path / "model.safetensors"
    _symlink_or_skip(os.path.join("store", "real.safetensors"), link)   # a relative link
    RBM(4, n_iter=1, random_state=1).fit(X).save(link)
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("store", "real.safetensors")
    assert deepbio.load(real).n_components == 4
    assert _leftovers(tmp_path) == ["store"] and os.listdir(store) == ["real.safetensors"]
    # a link to a file that does not exist yet creates that file, as open() would
    dangling = tmp_path / "new.safetensors"
    _symlink_or_skip(str(store / "later.safetensors"), dangling)
    RBM(2).save(dangling)
    assert dangling.is_symlink()
    assert deepbio.load(store / "later.safetensors").n_components == 2


def test_save_into_missing_directory_or_onto_a_directory_says_so(tmp_path):
    missing = tmp_path / "no-such-dir" / "m.safetensors"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        deepbio.save(RBM(3), missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    assert info.value.filename == str(missing)
    assert not (tmp_path / "no-such-dir").exists()
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory") as info:
        deepbio.save(RBM(3), folder)
    assert str(folder) in str(info.value) and ".tmp" not in str(info.value)
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_failure_to_create_the_temporary_file_names_the_destination(tmp_path, monkeypatch):
    path, before = _earlier(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.tmp"))
    monkeypatch.setattr(dio.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match="Permission denied") as info:
        RBM(4).save(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert path.read_bytes() == before


# ------------------------------------------------------------------ bad files


def _write_deepbio(path, doc, tensors=None, fmt="deepbio"):
    meta = {"format": fmt, "deepbio": json.dumps(doc)}
    path.write_bytes(safetensors.numpy.save(tensors or {}, metadata=meta))


def test_truncated_corrupt_and_foreign_files(tmp_path):
    good = tmp_path / "good.safetensors"
    MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y).save(good)
    data = good.read_bytes()
    cases = {
        "empty": (b"", "truncated or empty"),
        "tiny": (b"abc", "truncated or empty"),
        "truncated-data": (data[:-10], "truncated"),
        "truncated-header": (data[:40], "header length"),
        "garbage": (os.urandom(200), "header|not a"),
        "csv": (b"a,b,c\n1,2,3\n" * 20, "header|not a"),
        "bad-json-header": (struct.pack("<Q", 10) + b"{not json}" + b"\0" * 8,
                            "header is not JSON"),
        "extra-bytes": (data + b"\0" * 7, "corrupt or truncated"),
    }
    for name, (blob, message) in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(blob)
        with pytest.raises(ValueError, match=message):
            deepbio.load(p)
    foreign = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"weight": np.ones((2, 2), np.float32)}, str(foreign))
    with pytest.raises(ValueError, match="not a deepbio model"):
        deepbio.load(foreign)


def test_flipped_tensor_bytes_are_detected_by_shape_or_load(tmp_path):
    good = tmp_path / "good.safetensors"
    MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y).save(good)
    data = bytearray(good.read_bytes())
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    header = json.loads(bytes(data[8:8 + n]))
    header["coefs_.0"]["shape"] = [999, 4]                  # lies about its size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", len(text)) + text + bytes(data[8 + n:]))
    with pytest.raises(ValueError, match="corrupt"):
        deepbio.load(bad)


def test_only_whitelisted_classes_and_attributes(tmp_path):
    p = tmp_path / "evil.safetensors"
    base = {"format_version": 1, "deepbio_version": "0",
            "model": {"class": "RBM", "params": {}, "attributes": {}}}
    for cls in ("os.system", "Popen", "Network", "BaseEstimator"):
        doc = json.loads(json.dumps(base))
        doc["model"]["class"] = cls
        _write_deepbio(p, doc)
        with pytest.raises(ValueError, match="does not know how to load"):
            deepbio.load(p)
    doc = json.loads(json.dumps(base))
    doc["model"]["attributes"] = {"__class__": 1}
    _write_deepbio(p, doc)
    with pytest.raises(ValueError, match="bad attribute name"):
        deepbio.load(p)
    doc = json.loads(json.dumps(base))
    doc["model"]["params"] = {"exec": "print(1)"}
    _write_deepbio(p, doc)
    with pytest.raises(ValueError, match="parameters"):
        deepbio.load(p)
    doc = json.loads(json.dumps(base))
    doc["model"]["attributes"] = {"W_": {"__tensor__": "missing"}}
    _write_deepbio(p, doc)
    with pytest.raises(ValueError, match="tensor 'missing' is missing"):
        deepbio.load(p)
    doc = json.loads(json.dumps(base))
    doc["format_version"] = 99
    _write_deepbio(p, doc)
    with pytest.raises(ValueError, match="format version 99"):
        deepbio.load(p)
    _write_deepbio(p, base, fmt="other")
    with pytest.raises(ValueError, match="not a deepbio model"):
        deepbio.load(p)


def test_pickles_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError):
        deepbio.load(p)
    assert not marker.exists()
