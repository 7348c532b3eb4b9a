"""Model files are checked field by field (issue #26): a digest over the whole file, every
tensor against its estimator's schema, every setting as the constructor's validation.

Two kinds of edit are swept over one saved file per fixture of every estimator class
(the release files of ``tests/data/release_0_1_0``, saved again by this deepbio):

* **raw** edits (every header byte flipped; every structured edit below, with the digest
  left as it was): the digest must refuse them all;
* **re-signed** edits (the structured edits, with the digests recomputed as an editor
  that knows the format would): the container, schema and parameter checks must refuse
  them all.  Structured edits: every tensor's dtype (to every dtype of the same size, so
  the byte counts still add up, and one of another size), its shape (permuted, an axis
  added, one size changed), each of its two offsets, and every key of the document
  (deleted, renamed, its value replaced, the class swapped for every other class).

Some re-signed edits cannot be refused, because they give another valid file: the
values of informational fields (``deepbio_version``, user ``metadata``, ``history_``,
``pretrain_history_``, ``n_iter_``), a parameter deleted (a file of an older deepbio
lacks the parameters added since, which take their defaults), ``target_ndim_`` (1 and 2
are both valid with one output).  Those are left out of the re-signed sweep, and only
those.
"""
import copy
import hashlib
import json
import pathlib
import struct

import numpy as np
import pytest
import safetensors.numpy

import deepbio
from deepbio import io as dio
from deepbio.models import REGISTRY, _persist

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "release_0_1_0"
STEMS = sorted(p.stem for p in DATA.glob("*.safetensors"))
PLACEHOLDER = "sha256:" + "0" * 64
SIZES = {name: dt.itemsize for name, dt in dio.DTYPES.items()}


# ---------------------------------------------------------------- file surgery


def split(blob):
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join(header, data):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def resign(header, data):
    """The file of ``header`` + ``data`` with its digests recomputed (docs/models/files.md)."""
    header = copy.deepcopy(header)
    meta = header["__metadata__"]
    meta["tensor_digests"] = json.dumps(
        {k: _sha(data[v["data_offsets"][0]:v["data_offsets"][1]])
         for k, v in header.items() if k != "__metadata__"
         if isinstance(v, dict) and isinstance(v.get("data_offsets"), list)
         and len(v["data_offsets"]) == 2}, sort_keys=True)
    meta["digest"] = PLACEHOLDER
    blob = bytearray(join(header, data))
    (n,) = struct.unpack("<Q", blob[:8])
    at = blob.index(json.dumps(PLACEHOLDER).encode())
    blob[at + 1:at + 1 + len(PLACEHOLDER)] = _sha(bytes(blob[:8 + n])).encode()
    return bytes(blob)


def load_bytes(blob):
    """What deepbio.load does with a file holding ``blob`` (without the file)."""
    tensors, doc = dio._parse_container(blob, "<edited file>")
    return _persist._decode(tensors, doc)[0]


def document(header):
    return json.loads(header["__metadata__"]["deepbio"])


def with_document(header, doc):
    header = copy.deepcopy(header)
    header["__metadata__"]["deepbio"] = json.dumps(doc)
    return header


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{stem: bytes of the release file saved again by this deepbio (format 2)}."""
    out = {}
    folder = tmp_path_factory.mktemp("persist")
    for stem in STEMS:
        path = folder / f"{stem}.safetensors"
        deepbio.save(deepbio.load(DATA / f"{stem}.safetensors"), path)
        out[stem] = path.read_bytes()
    return out


# ----------------------------------------------------------------- the edits


def tensor_edits(header):
    """(label, edited header) for single-field edits of the tensor table."""
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        others = [d for d in dio.DTYPES if d != dtype and SIZES[d] == SIZES[dtype]]
        others.append(next(d for d in dio.DTYPES if SIZES[d] != SIZES[dtype]))
        for d in others:
            yield f"{name}.dtype={d}", _set(header, name, "dtype", d)
        shapes = [shape[::-1], [1] + shape, [shape[0] + 1] + shape[1:] if shape else [2]]
        if int(np.prod(shape)) == 1:
            shapes.append([])
        for s in shapes:
            if s != shape:
                yield f"{name}.shape={s}", _set(header, name, "shape", s)
        for i, delta in ((0, 1), (0, -1), (1, 1), (1, -1)):
            offsets = [begin, end]
            offsets[i] += delta
            if offsets[i] >= 0:
                yield f"{name}.data_offsets[{i}]{delta:+d}", _set(header, name, "data_offsets",
                                                                  offsets)


def _set(header, name, key, value):
    header = copy.deepcopy(header)
    header[name][key] = value
    return header


#: Document fields whose value may change in a valid file (see the module docstring).
FREE_VALUES = {"deepbio_version", "metadata", "history_", "pretrain_history_", "n_iter_",
               "target_ndim_"}


def document_edits(doc, resigned):
    """(label, edited document) for single-field edits of the document: every key at
    the top, of every (nested) model's params and attributes, deleted, renamed or given
    a bad value; every tensor's declared dtype; every model's class swapped."""
    def top():
        for key in list(doc):
            if not (resigned and key == "metadata"):
                yield key, doc, key
    for label, owner, key in list(top()) + list(_model_fields(doc["model"], "model")):
        free = key in FREE_VALUES
        if not (resigned and (free or label.endswith(".params." + key))):
            d = copy.deepcopy(doc)
            del _resolve(d, owner, doc)[key]
            yield f"del {label}", d
        d = copy.deepcopy(doc)
        target = _resolve(d, owner, doc)
        target[key + "x"] = target.pop(key)
        yield f"rename {label}", d
        if not (resigned and free):
            for bad in ("bogus", {"__tensor__": "bogus"}) if not resigned else ("bogus",):
                d = copy.deepcopy(doc)
                _resolve(d, owner, doc)[key] = bad
                yield f"{label}={bad!r}", d
    for label, model in _models(doc["model"], "model"):
        for cls in sorted(REGISTRY):
            if cls != model["class"]:
                d = copy.deepcopy(doc)
                _resolve(d, model, doc)["class"] = cls
                yield f"{label}.class={cls}", d
    for label, ref in _tensor_refs(doc["model"], "model"):
        for dtype in ("float32", "float64", "int32", "int64"):
            if dtype != ref["dtype"]:
                d = copy.deepcopy(doc)
                _resolve(d, ref, doc)["dtype"] = dtype
                yield f"{label}.declared dtype={dtype}", d
    for label, model in _models(doc["model"], "model"):
        for key in ("n_features_in_", "n_outputs_"):
            if isinstance(model["attributes"].get(key), int):
                d = copy.deepcopy(doc)
                _resolve(d, model, doc)["attributes"][key] += 1
                yield f"{label}.attributes.{key}+1", d
        for key in ("image_shape_", "input_shape_"):
            if key in model["attributes"]:
                d = copy.deepcopy(doc)
                _resolve(d, model, doc)["attributes"][key]["__tuple__"][-1] += 1
                yield f"{label}.attributes.{key}[-1]+1", d


def _walk(v, path):
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _walk(x, f"{path}.{i}")


def _models(model, path):
    for p, v in _walk(model, path):
        if isinstance(v, dict) and set(v) == {"class", "params", "attributes"}:
            yield p, v


def _tensor_refs(model, path):
    for p, v in _walk(model, path):
        if isinstance(v, dict) and "__tensor__" in v:
            yield p, v


def _model_fields(model, path):
    for label, m in _models(model, path):
        yield f"{label}.class", m, "class"
        for part in ("params", "attributes"):
            for key in m[part]:
                yield f"{label}.{part}.{key}", m[part], key


def _resolve(copied, original_node, original_root):
    """The node of ``copied`` at the place ``original_node`` has in ``original_root``."""
    def find(a, b):
        if a is original_node:
            return b
        items = a.items() if isinstance(a, dict) else enumerate(a) if isinstance(a, list) \
            else ()
        for k, x in items:
            hit = find(x, b[k])
            if hit is not None:
                return hit
        return None
    return find(original_root, copied)


def _edits(blob, resigned):
    header, data = split(blob)
    for label, h in tensor_edits(header):
        yield label, h, data
    for label, doc in document_edits(document(header), resigned):
        yield label, with_document(header, doc), data


def _accepted(blobs):
    """Labels of the edited files that load (should be none)."""
    loaded = []
    for label, blob in blobs:
        try:
            load_bytes(blob)
        except ValueError:
            continue
        loaded.append(label)
    return loaded


# ---------------------------------------------------------------- the sweeps


def test_surgery_helpers_rebuild_a_loadable_file(files):
    for stem, blob in files.items():
        header, data = split(blob)
        model = load_bytes(resign(header, data))
        assert type(model).__name__ == document(header)["model"]["class"]
        with pytest.raises(ValueError, match="header .* does not match its digest"):
            load_bytes(join(header, data))           # re-serialised: not byte-identical


@pytest.mark.parametrize("stem", STEMS)
def test_every_raw_edit_is_refused(files, stem):
    blob = files[stem]
    edits = [(label, join(h, data)) for label, h, data in _edits(blob, resigned=False)]
    assert len(edits) > 50
    assert _accepted(edits) == []


@pytest.mark.parametrize("stem", STEMS)
def test_every_resigned_edit_is_refused(files, stem):
    blob = files[stem]
    edits = [(label, resign(h, data)) for label, h, data in _edits(blob, resigned=True)]
    assert len(edits) > 50
    assert _accepted(edits) == []


@pytest.mark.parametrize("stem", STEMS)
def test_every_header_byte_flipped_is_refused(files, stem):
    blob = files[stem]
    (n,) = struct.unpack("<Q", blob[:8])
    loaded = []
    for i in range(8 + n):
        edited = bytearray(blob)
        edited[i] ^= 0x01
        try:
            load_bytes(bytes(edited))
        except ValueError:
            continue
        loaded.append(i)
    assert loaded == []


@pytest.mark.parametrize("stem", STEMS)
def test_every_tensor_byte_edit_is_refused_and_names_the_tensor(files, stem):
    blob = files[stem]
    header, data = split(blob)
    start = len(blob) - len(data)
    for name, info in header.items():
        if name == "__metadata__" or info["data_offsets"][0] == info["data_offsets"][1]:
            continue
        edited = bytearray(blob)
        edited[start + info["data_offsets"][1] - 1] ^= 0x01
        with pytest.raises(ValueError, match=f"data of tensor '{name}' does not match"):
            load_bytes(bytes(edited))


# ----------------------------------------------------------- issue #26, as filed


X = (np.random.default_rng(0).random((30, 5)) < 0.5).astype(float)
Y = np.arange(30) % 2 * 5                        # numeric labels 0 and 5: classes_ is I64


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mlp") / "mlp.safetensors"
    deepbio.MLPClassifier((4,), max_iter=2, random_state=0).fit(X, Y).save(path)
    return path.read_bytes()


def _dtype_edit(blob, name, old, new):
    """Edit one dtype inside the header bytes, byte counts unchanged (the filed edit)."""
    header, data = split(blob)
    (n,) = struct.unpack("<Q", blob[:8])
    entry = json.dumps({name: header[name]}, separators=(",", ":"))[1:-1].encode()
    assert blob.count(entry) == 1 and header[name]["dtype"] == old
    edited = blob.replace(entry, entry.replace(f'"{old}"'.encode(), f'"{new}"'.encode()))
    h, d = split(edited)
    return edited, resign(h, d)


@pytest.mark.parametrize("name,old,new,message", [
    ("classes_", "I64", "F64", "tensor 'classes_' is stored as float64, but the document "
                               "declares it 'int64'"),
    ("coefs_.0", "F32", "I32", "tensor 'coefs_.0' has dtype int32, expected float32 \\(the "
                               "model's dtype='float32'\\)"),
])
def test_the_filed_dtype_edits_are_refused(tmp_path, mlp_file, name, old, new, message):
    raw, resigned = _dtype_edit(mlp_file, name, old, new)
    path = tmp_path / "edited.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="was modified or corrupted after it was saved: its "
                                         "header"):
        deepbio.load(path)
    path.write_bytes(resigned)
    with pytest.raises(ValueError, match=message) as info:
        deepbio.load(path)
    assert str(path) in str(info.value)


def test_schema_errors_name_the_tensor_the_expectation_and_the_finding(mlp_file):
    header, data = split(mlp_file)
    h = _set(header, "coefs_.0", "shape", [4, 5])            # (5, 4) transposed
    with pytest.raises(ValueError, match=r"tensor 'coefs_.0' has shape \(4, 5\), expected "
                                         r"\(5, 4\) = \(n_features_in_, "
                                         r"hidden_layer_sizes\[0\]\)"):
        load_bytes(resign(h, data))
    doc = document(header)
    del doc["model"]["attributes"]["coefs_"][1]
    with pytest.raises(ValueError, match="tensor 'coefs_.1' is missing: expected float32 of "
                                         r"shape \(4, 2\) = \(hidden_layer_sizes\[0\], "
                                         r"len\(classes_\)\)"):
        load_bytes(resign(with_document(header, doc), data))
    doc = document(header)
    doc["model"]["attributes"]["n_iter_"] = {"__tensor__": "coefs_.0", "dtype": "float32"}
    with pytest.raises(ValueError, match="referenced at n_iter_"):
        load_bytes(resign(with_document(header, doc), data))


def test_extra_tensors_are_refused(mlp_file, tmp_path):
    tensors, doc = dio._parse_container(mlp_file, "x")
    tensors["extra_"] = np.zeros(3, np.float32)
    path = dio.write_container(tmp_path / "m.safetensors", tensors, doc)
    with pytest.raises(ValueError, match="unexpected tensor 'extra_': no attribute"):
        deepbio.load(path)


@pytest.mark.parametrize("param,value,message", [
    ("learning_rate", -1.0, "'learning_rate' parameter of MLPClassifier must be"),
    ("hidden_layer_sizes", {"__tuple__": [0]}, "'hidden_layer_sizes'"),
    ("dtype", "float16", "'dtype' parameter"),
    ("optimizer", {"__optimizer__": {"class": "SGD", "params": {"learning_rate": -1}}},
     "bad optimiser parameters"),
    ("no_such_param", 1, "parameters \\['no_such_param'\\] that this version"),
])
def test_settings_are_validated_as_the_constructor_would(mlp_file, param, value, message):
    header, data = split(mlp_file)
    doc = document(header)
    doc["model"]["params"][param] = value
    with pytest.raises(ValueError, match=message):
        load_bytes(resign(with_document(header, doc), data))


def test_hessian_free_with_dropout_in_a_file_is_refused(mlp_file):
    header, data = split(mlp_file)
    doc = document(header)
    doc["model"]["params"].update(optimizer="hf", dropout=0.5)
    with pytest.raises(ValueError, match="dropout=0.5 cannot be used with optimizer='hf'"):
        load_bytes(resign(with_document(header, doc), data))


def test_save_refuses_a_model_its_file_could_not_hold(tmp_path):
    mlp = deepbio.MLPClassifier((4,), max_iter=1, random_state=0).fit(X, Y)
    mlp.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="cannot save this MLPClassifier: .*coefs_.0.* "
                                         r"expected \(5, 5\)"):
        mlp.save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
    with pytest.raises(ValueError, match="cannot save this RBM: .*invalid configuration"):
        deepbio.RBM(n_components=0).save(tmp_path / "m.safetensors")


def test_tied_autoencoder_decoder_must_be_the_encoder_transposed(tmp_path):
    ae = deepbio.AutoEncoder(3, max_iter=1, random_state=0).fit(X)
    ae.coefs_[1] = ae.coefs_[1] + 1
    with pytest.raises(ValueError, match="not the transpose of coefs_.0"):
        ae.save(tmp_path / "ae.safetensors")


def test_nested_models_are_checked_and_named(files):
    header, data = split(files["DBN"])
    h = _set(header, "rbms_.1/W_", "dtype", "I32")
    with pytest.raises(ValueError, match="the model at rbms_.1 \\(RBM\\): tensor 'rbms_.1/W_' "
                                         "has dtype int32, expected float32"):
        load_bytes(resign(h, data))
    doc = document(header)
    doc["model"]["params"]["hidden_layer_sizes"] = {"__tuple__": [4, 2]}
    with pytest.raises(ValueError, match=r"rbms_\[1\].n_components is 3, expected "
                                         r"hidden_layer_sizes\[1\] = 2"):
        load_bytes(resign(with_document(header, doc), data))


def test_a_cnn_layer_plan_must_match_its_parameters(files):
    header, data = split(files["CNNClassifier-image"])
    doc = document(header)
    doc["model"]["params"]["activation"] = "tanh"
    with pytest.raises(ValueError, match="layers_ are not the layers CNNClassifier's "
                                         "parameters build"):
        load_bytes(resign(with_document(header, doc), data))


def test_an_unfitted_model_holds_no_weights(files):
    header, data = split(files["RBM"])
    doc = document(header)
    del doc["model"]["attributes"]["n_features_in_"]
    with pytest.raises(ValueError, match="no n_features_in_"):
        load_bytes(resign(with_document(header, doc), data))


def test_a_diverged_model_can_be_saved_and_loaded(tmp_path):
    mlp = deepbio.MLPClassifier((4,), max_iter=1, random_state=0).fit(X, Y)
    for name in ("coefs_", "intercepts_", "n_features_in_", "_network", "_optimizer"):
        delattr(mlp, name)                       # what check_diverged leaves
    mlp.save(tmp_path / "m.safetensors")
    loaded = deepbio.load(tmp_path / "m.safetensors")
    assert not hasattr(loaded, "coefs_") and loaded.classes_.tolist() == [0, 5]


def test_register_needs_a_schema_for_a_new_kind_of_estimator():
    class Custom(deepbio.models.BaseEstimator):
        def __init__(self, a=1):
            self.a = a

    with pytest.raises(TypeError, match="no file schema"):
        deepbio.models.register(Custom)

    class MyMLP(deepbio.MLPClassifier):
        pass

    try:
        assert deepbio.models.register(MyMLP) is MyMLP         # inherits MLPClassifier's
        assert _persist.schema_of(MyMLP) is _persist.SCHEMAS[deepbio.MLPClassifier]
    finally:
        REGISTRY.pop("MyMLP", None)


def test_saved_files_are_safetensors_files(files):
    for blob in files.values():
        tensors = safetensors.numpy.load(blob)
        assert set(tensors) == set(split(blob)[0]) - {"__metadata__"}
