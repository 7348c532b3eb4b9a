"""The review's recipe (Min et al., sec. 3.3): learnt features, alone or beside the raw
data, into any classifier -- here scikit-learn's, through a Pipeline."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from deepbio import DBN, StackedAutoEncoder  # noqa: E402
from deepbio.datasets import MinMaxScaler, load_digits  # noqa: E402


@pytest.mark.parametrize("Learner, kwargs", [(DBN, {"n_iter": 20}),
                                             (StackedAutoEncoder, {"max_iter": 15})])
def test_learnt_features_beside_the_raw_data_feed_any_classifier(Learner, kwargs):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)

    def pipeline(include_input):
        return make_pipeline(MinMaxScaler(), Learner((32,), include_input=include_input,
                                                     random_state=0, **kwargs),
                             LogisticRegression(max_iter=3000))

    raw = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=3000)).fit(Xtr, ytr)
    alone, both = pipeline(False).fit(Xtr, ytr), pipeline(True).fit(Xtr, ytr)
    # what the classifier sees: [the learnt features, the (scaled) raw data, in the
    # learner's dtype], and the features are those the same learner gives alone (same
    # seed, same fit)
    Z = both[:-1].transform(Xte)
    assert Z.shape == (len(Xte), 32 + X.shape[1])
    np.testing.assert_array_equal(Z[:, 32:], both[0].transform(Xte).astype(np.float32))
    np.testing.assert_array_equal(Z[:, :32], alone[:-1].transform(Xte))
    # held-out accuracy floors (measured on this split: raw 0.972, features alone 0.878
    # (DBN) and 0.946 (stacked autoencoder), both 0.972; docs/explain.md): the raw data
    # carry the task, and putting the features beside them does not hurt
    assert raw.score(Xte, yte) >= 0.95
    assert alone.score(Xte, yte) >= 0.8
    assert both.score(Xte, yte) >= raw.score(Xte, yte) - 0.01
