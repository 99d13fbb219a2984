import json

import numpy as np
import pandas as pd
import pytest

from audit.modelio.encoder import EncoderSpec, category_key, default_categorical


@pytest.fixture
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 40.0, np.nan, 60.0],
            "workclass": ["Private", "State-gov", "Private", None],
            "married": [0, 1, 1, 0],
        }
    )


def test_default_categorical_picks_text_and_binary_columns(small):
    assert default_categorical(small, ["age", "workclass", "married"]) == ["workclass", "married"]


def test_fit_describes_columns(small):
    spec = EncoderSpec.fit(small, ["age", "workclass", "married"])

    assert spec.columns == ["age", "workclass=Private", "workclass=State-gov", "married=0", "married=1"]
    assert spec.column_features == ["age", "workclass", "workclass", "married", "married"]
    assert spec.categorical_mask.tolist() == [False, True, True, True, True]
    assert spec.features[0].mean == pytest.approx(40.0)
    assert spec.features[0].std == pytest.approx(np.std([20.0, 40.0, 60.0]))


def test_transform_standardises_and_one_hot_encodes(small):
    spec = EncoderSpec.fit(small, ["age", "workclass", "married"])
    std = np.std([20.0, 40.0, 60.0])

    out = spec.transform(small)

    assert out.dtype == np.float32
    expected = [
        [-20 / std, 1, 0, 1, 0],
        [0, 0, 1, 0, 1],
        [0, 1, 0, 0, 1],  # missing age -> mean -> 0
        [20 / std, 0, 0, 1, 0],  # missing workclass -> all zeros
    ]
    np.testing.assert_allclose(out, np.array(expected), rtol=1e-6)


def test_unknown_category_encodes_to_zeros(small):
    spec = EncoderSpec.fit(small, ["workclass"])

    out = spec.transform(pd.DataFrame({"workclass": ["Never-worked", "Private"]}))

    assert out.tolist() == [[0.0, 0.0], [1.0, 0.0]]


def test_float_read_back_keeps_integer_categories(small):
    spec = EncoderSpec.fit(small, ["married"])

    out = spec.transform(pd.DataFrame({"married": [1.0, 0.0]}))

    assert out.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert category_key(1.0) == "1" and category_key(np.int64(3)) == "3" and category_key(np.nan) is None


def test_json_round_trip_gives_the_same_encoding(small):
    spec = EncoderSpec.fit(small, ["age", "workclass", "married"])

    text = json.dumps(spec.to_json())
    again = EncoderSpec.from_json(json.loads(text))

    assert again == spec
    assert EncoderSpec.from_json(text) == spec
    np.testing.assert_array_equal(again.transform(small), spec.transform(small))


def test_constant_column_encodes_to_zero():
    spec = EncoderSpec.fit(pd.DataFrame({"x": [3.0, 3.0]}), ["x"], categorical=[])

    assert spec.features[0].std == 1.0
    assert spec.transform(pd.DataFrame({"x": [3.0]})).tolist() == [[0.0]]


@pytest.mark.parametrize(
    "data",
    [
        {"features": [{"name": "a", "kind": "text"}]},
        {"features": [{"name": "a", "kind": "numeric", "mean": 0, "std": 0}]},
        {"features": [{"kind": "numeric"}]},
        {"nothing": []},
    ],
)
def test_malformed_spec_is_refused(data):
    with pytest.raises(ValueError):
        EncoderSpec.from_json(data)


def test_transform_names_missing_columns(small):
    spec = EncoderSpec.fit(small, ["age"])

    with pytest.raises(ValueError, match=r"lacks feature columns \['age'\]"):
        spec.transform(pd.DataFrame({"other": [1]}))
