"""deepbio.interop.anndata: fit / embed / annotate on a small AnnData built here.

The data are planted clusters (deepbio.datasets.make_expression: three subtypes, each with
its own marker genes), standardised with the training cells' statistics, stored as sparse
CSR ``X``, dense ``X`` and a layer; labels are categorical with some missing.
"""
import numpy as np
import pytest

ad = pytest.importorskip("anndata")
pd = pytest.importorskip("pandas")
sp = pytest.importorskip("scipy.sparse")

import deepbio  # noqa: E402
from deepbio.datasets import StandardScaler, make_expression  # noqa: E402
from deepbio.interop import anndata as dad  # noqa: E402

N_TRAIN, N_TEST, N_GENES = 200, 100, 60
MISSING = [3, 17, 50, 121]                     # training cells without a label


def _cells(storage="csr"):
    """``(train, test)`` AnnData: X stored as ``storage`` ("csr" or "dense"), the same
    values in ``layers["scaled"]``, ``2 * X`` in ``layers["doubled"]``."""
    sim = make_expression(n_samples=N_TRAIN + N_TEST, n_genes=N_GENES, n_subtypes=3,
                          n_markers=8, effect_size=1.5, noise=1.0, random_state=0,
                          return_bunch=True)
    Z = StandardScaler().fit(sim.data[:N_TRAIN]).transform(sim.data).astype(np.float32)
    labels = np.array(["alpha", "beta", "gamma"], dtype=object)[sim.target]
    labels[MISSING] = None
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels,
                                                    categories=["alpha", "beta", "gamma"]),
                        "truth": pd.Categorical(np.array(sim.target_names)[sim.target])},
                       index=[f"cell{i:03d}" for i in range(len(Z))])
    var = pd.DataFrame(index=sim.feature_names)
    X = sp.csr_matrix(Z) if storage == "csr" else Z
    a = ad.AnnData(X=X, obs=obs, var=var)
    a.layers["scaled"] = Z.copy()
    a.layers["doubled"] = 2 * Z
    return a[:N_TRAIN].copy(), a[N_TRAIN:].copy()


@pytest.fixture(scope="module")
def _built():
    return _cells("csr")


@pytest.fixture
def cells(_built):
    """Fresh copies of the CSR ``(train, test)`` for each test (they are changed)."""
    return tuple(a.copy() for a in _built)


def _nearest_centroid_accuracy(E_train, y_train, E_test, y_test):
    classes = np.unique(y_train)
    C = np.stack([E_train[y_train == c].mean(axis=0) for c in classes])
    pred = classes[np.argmin(((E_test[:, None, :] - C[None]) ** 2).sum(-1), axis=1)]
    return float(np.mean(pred == y_test))


def _mlp(seed=0):
    return deepbio.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=seed)


@pytest.mark.parametrize("storage", ["csr", "dense"])
def test_fit_annotate_mlp_held_out_accuracy(storage):
    train, test = _cells(storage)
    model = dad.fit(train, _mlp(), label_key="cell_type", dropna=True)
    assert list(model.classes_) == ["alpha", "beta", "gamma"]   # category names
    assert model.n_features_in_ == N_GENES
    if hasattr(model, "feature_names_in_"):       # estimators that record names
        assert list(model.feature_names_in_) == list(train.var_names)
    assert dad.annotate(test, model) is None      # in place, scanpy's convention
    pred = test.obs["deepbio_pred"]
    assert isinstance(pred.dtype, pd.CategoricalDtype)
    assert list(pred.cat.categories) == ["alpha", "beta", "gamma"]
    truth = test.obs["cell_type"].astype(str).to_numpy()
    accuracy = float(np.mean(pred.astype(str).to_numpy() == truth))
    assert accuracy >= 0.9, accuracy
    proba = test.obsm["deepbio_pred_proba"]
    assert proba.shape == (N_TEST, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(model.classes_)[proba.argmax(axis=1)],
                                  pred.astype(str).to_numpy())
    uns = test.uns["deepbio_pred"]
    assert uns["model"] == "MLPClassifier"
    assert uns["deepbio_version"] == deepbio.__version__
    assert uns["params"]["hidden_layer_sizes"] == [16]
    assert uns["params"]["max_iter"] == 20 and uns["params"]["random_state"] == 0
    assert uns["classes"] == ["alpha", "beta", "gamma"]
    assert uns["layer"] == "X" and uns["proba_key"] == "deepbio_pred_proba"


def test_fit_dbn_embed_obsm_and_held_out_accuracy(cells, tmp_path):
    train, test = cells
    dbn = dad.fit(train, deepbio.DBN((32,), visible="gaussian", n_iter=50, batch_size=10,
                                     learning_rate=0.005, random_state=0))
    dad.embed(train, dbn)
    dad.embed(test, dbn, key_added="X_dbn")
    assert train.obsm["X_deepbio"].shape == (N_TRAIN, 32)
    assert test.obsm["X_dbn"].shape == (N_TEST, 32)
    np.testing.assert_allclose(test.obsm["X_dbn"], dbn.transform(test.X.toarray()),
                               rtol=1e-6)
    uns = test.uns["X_dbn"]
    assert uns["model"] == "DBN" and uns["n_components"] == 32
    assert uns["params"]["visible"] == "gaussian" and uns["params"]["n_iter"] == 50
    assert uns["deepbio_version"] == deepbio.__version__
    y_train = train.obs["truth"].astype(str).to_numpy()
    y_test = test.obs["truth"].astype(str).to_numpy()
    accuracy = _nearest_centroid_accuracy(train.obsm["X_deepbio"], y_train,
                                          test.obsm["X_dbn"], y_test)
    assert accuracy >= 0.9, accuracy
    # what embed and annotate leave in the AnnData is written and read back by anndata
    dad.annotate(test, dad.fit(train, _mlp(), label_key="cell_type", dropna=True))
    test.write_h5ad(tmp_path / "test.h5ad")
    back = ad.read_h5ad(tmp_path / "test.h5ad")
    np.testing.assert_array_equal(back.obsm["X_dbn"], test.obsm["X_dbn"])
    assert back.uns["X_dbn"]["model"] == "DBN"
    assert list(back.obs["deepbio_pred"]) == list(test.obs["deepbio_pred"])


def test_rbm_on_a_layer_and_copy(cells):
    train, test = cells
    rbm = dad.fit(train, deepbio.RBM(8, visible="gaussian", n_iter=5, learning_rate=0.005,
                                     random_state=0), layer="doubled")
    out = dad.embed(test, rbm, key_added="X_rbm", layer="doubled", copy=True)
    assert isinstance(out, ad.AnnData) and out is not test
    assert "X_rbm" not in test.obsm and "X_rbm" not in test.uns   # untouched
    assert out.obsm["X_rbm"].shape == (N_TEST, 8)
    assert out.uns["X_rbm"]["layer"] == "doubled"
    np.testing.assert_allclose(out.obsm["X_rbm"], rbm.transform(2 * test.layers["scaled"]),
                               rtol=1e-6)
    # the layer was used: on X (half the values) the same RBM gives other features
    on_x = deepbio.RBM(8, visible="gaussian", n_iter=5, learning_rate=0.005,
                       random_state=0).fit(train.X.toarray())
    assert not np.allclose(on_x.transform(test.layers["doubled"]), out.obsm["X_rbm"])
    copied = dad.annotate(test, dad.fit(train, _mlp(), label_key="cell_type",
                                        layer="scaled", dropna=True),
                          layer="scaled", copy=True)
    assert "deepbio_pred" in copied.obs and "deepbio_pred" not in test.obs


def test_missing_labels_are_an_error_or_dropped(cells):
    train, _ = cells
    with pytest.raises(ValueError, match=r"adata\.obs\['cell_type'\] has 4 missing label\(s\) "
                                         r"of 200 \(first: 'cell003'\).*dropna=True"):
        dad.fit(train, _mlp(), label_key="cell_type")

    class Spy:
        """Records what fit receives."""
        _estimator_type = "classifier"

        def fit(self, X, y):
            self.X, self.y = X, y
            return self

    spy = dad.fit(train, Spy(), label_key="cell_type", dropna=True)
    keep = [i for i in range(N_TRAIN) if i not in MISSING]
    assert len(spy.y) == N_TRAIN - len(MISSING)
    np.testing.assert_array_equal(np.asarray(spy.X), train.X.toarray()[keep])
    np.testing.assert_array_equal(spy.y, train.obs["cell_type"].to_numpy()[keep].astype(str))
    # the genes reach fit as the columns of a frame (for feature_names_in_)
    assert list(spy.X.columns) == list(train.var_names)
    with pytest.raises(ValueError, match=r"label_key='batch' is not a column of adata\.obs"):
        dad.fit(train, _mlp(), label_key="batch")
    with pytest.raises(ValueError, match=r"MLPClassifier is a classifier: pass label_key"):
        dad.fit(train, _mlp())


def test_gene_mismatch_and_bad_arguments(cells):
    train, test = cells
    model = dad.fit(train, _mlp(), label_key="truth")
    fewer = test[:, :50].copy()
    with pytest.raises(ValueError, match=r"adata has 50 genes \(n_vars\) but MLPClassifier "
                                         r"was fitted on 60|fitted on 60"):
        dad.annotate(fewer, model)
    with pytest.raises(ValueError, match=r"fit it first"):
        dad.embed(test, deepbio.DBN((4,)))
    with pytest.raises(TypeError, match=r"adata must be an anndata\.AnnData, got ndarray"):
        dad.annotate(test.X.toarray(), model)
    with pytest.raises(ValueError, match=r"layer='counts' is not in adata\.layers; its layers "
                                         r"are: 'scaled', 'doubled'"):
        dad.annotate(test, model, layer="counts")
    class PredictOnly:
        n_features_in_ = N_GENES

        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(TypeError, match=r"model must have a transform method; PredictOnly"):
        dad.embed(test, PredictOnly())
    with pytest.raises(TypeError, match=r"model must have a predict method; DBN"):
        dad.annotate(test, deepbio.DBN((4,)))
    with pytest.raises(TypeError, match=r"key_added must be a non-empty str"):
        dad.annotate(test, model, key_added="")


def test_names_checked_against_feature_names_in(cells):
    """A model that knows its genes refuses an AnnData whose genes differ, naming the first
    one, and receives a frame with the right columns."""
    train, test = cells
    model = dad.fit(train, _mlp(), label_key="truth")
    if not hasattr(model, "feature_names_in_"):   # on estimators without names: set them
        model.feature_names_in_ = np.asarray(train.var_names, dtype=object)
    swapped = test.copy()
    names = list(swapped.var_names)
    names[5], names[6] = names[6], names[5]
    swapped.var_names = names
    with pytest.raises(ValueError, match=rf"position 5 is {names[5]!r}, the model has "
                                         rf"{names[6]!r}"):
        dad.annotate(swapped, model)
    dad.annotate(test, model)
    assert test.obs["deepbio_pred"].shape == (N_TEST,)


def test_regressor_predictions_are_numeric(cells):
    train, test = cells
    train = train.copy()
    train.obs["score"] = np.asarray(train.layers["scaled"][:, :3].sum(axis=1), dtype=float)
    reg = dad.fit(train, deepbio.MLPRegressor(hidden_layer_sizes=(8,), max_iter=10,
                                              random_state=0), label_key="score")
    dad.annotate(test, reg, key_added="score_pred")
    assert test.obs["score_pred"].dtype == np.float64
    assert "classes" not in test.uns["score_pred"]


def test_without_anndata_the_error_names_the_extra(cells, monkeypatch):
    import sys
    train, _ = cells
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(ImportError, match=r'pip install "deepbio\[anndata\]"'):
        dad.fit(train, _mlp(), label_key="truth")


def test_backed_anndata_is_read_a_chunk_at_a_time(cells, tmp_path):
    """``ad.read_h5ad(path, backed="r")`` leaves X in the file: fit and embed read it
    through the backed sparse dataset."""
    train, _ = cells
    path = tmp_path / "train.h5ad"
    train.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    assert not sp.issparse(backed.X) and backed.X.format == "csr"
    rbm = dad.fit(backed, deepbio.RBM(6, visible="gaussian", n_iter=3, learning_rate=0.005,
                                      random_state=0))
    dad.embed(backed, rbm)
    dense = train.X.toarray()
    np.testing.assert_allclose(backed.obsm["X_deepbio"], rbm.transform(dense), rtol=1e-6)
    same = deepbio.RBM(6, visible="gaussian", n_iter=3, learning_rate=0.005,
                       random_state=0).fit(dense)
    np.testing.assert_array_equal(same.transform(dense), rbm.transform(dense))
    backed.file.close()
