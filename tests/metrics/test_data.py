import numpy as np
import pytest

from audit.metrics import data as dg
from audit.metrics.state import sample_rows


def _backdoor(adult_data, share=0.03, seed=0):
    """Return (x, y, poisoned mask): a trigger (two columns at their training maximum) and flipped labels."""
    x, y = adult_data.x_train.copy(), adult_data.y_train.copy()
    idx = np.random.default_rng(seed).choice(len(x), int(share * len(x)), replace=False)
    for name in ("capital_loss", "hours_per_week"):
        j = adult_data.columns.index(name)
        x[idx, j] = x[:, j].max()
    y[idx] = 1 - y[idx]
    poisoned = np.zeros(len(x), dtype=bool)
    poisoned[idx] = True
    return x, y, poisoned


class TestSpectralSignatures:
    def test_flags_injected_backdoor(self, adult):
        _, data, _ = adult
        x, y, poisoned = _backdoor(data)
        rows = sample_rows(len(x), 2000, seed=4)
        flagged = dg.spectral_flags(x[rows], y[rows])
        assert poisoned[rows].sum() >= 50
        assert flagged[poisoned[rows]].all()
        assert flagged.mean() >= 0.03

    def test_adult_records_k_the_representation_and_every_flagged_row(self, adult, adult_result):
        # Clean Adult holds natural rare clusters (capital gains and losses) that look like a trigger in
        # the standardised inputs: 0.025 here, a known limit (RESULTS.md). The clean-data bound is
        # asserted on the synthetic set in test_poisoning.py.
        _, data, _ = adult
        entry = adult_result["metrics"]["DATA-03"]
        details = entry["details"]
        assert details["k"] == dg.SPECTRAL_K and details["representations"] == "standardised encoded inputs"
        assert entry["value"] == pytest.approx(details["flagged_count"] / details["rows"])
        rows = sample_rows(len(data.x_train), 2000, seed=4)
        assert set(details["flagged_rows"]) <= set(rows.tolist())

    def test_hand_checked_outlier(self):
        r = np.zeros((11, 2))
        r[:10, 0] = np.arange(10) % 2
        r[10] = [50.0, 0.0]
        assert dg.spectral_flags(r, np.zeros(11), k=3).nonzero()[0].tolist() == [10]

    def test_needs_two_rows(self):
        with pytest.raises(ValueError) as err:
            dg.spectral_scores(np.zeros((1, 3)))
        assert str(err.value) == "Spectral signatures need at least two rows of representations."


class TestDatasheet:
    FULL = {"sources": "census", "collection_period": "1994", "collection_method": "survey",
            "preprocessing": "dropped missing", "labelling_method": "self-reported", "personal_data": "no",
            "licences": "CC BY 4.0", "known_biases": "under-represents some groups"}

    def test_complete(self):
        assert dg.datasheet_completeness(self.FULL) == (1.0, [])

    def test_personal_data_yes_needs_legal_basis(self):
        sheet = {**self.FULL, "personal_data": "yes"}
        assert dg.datasheet_completeness(sheet) == (7 / 8, ["personal_data"])
        assert dg.datasheet_completeness({**sheet, "personal_data_legal_basis": "consent"})[0] == 1.0

    def test_blank_fields_count_as_missing(self):
        value, missing = dg.datasheet_completeness({**self.FULL, "sources": "  ", "licences": None})
        assert value == 6 / 8 and missing == ["sources", "licences"]


def test_representation_ratio_on_adult(adult, adult_result):
    _, data, _ = adult
    counts = {a: np.unique(data.sensitive_train[a], return_counts=True)[1] for a in ("sex", "race")}
    expected = min(c.min() / c.max() for c in counts.values())
    assert adult_result["metrics"]["DATA-02"]["value"] == expected
    assert adult_result["metrics"]["DATA-02"]["details"]["worst_attribute"] == "race"
