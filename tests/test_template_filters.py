"""The dashboard's template filters (core/templatetags/assay.py)."""

from core.templatetags.assay import details_table, label


def test_it_turns_keys_into_words():
    assert label("data_governance") == "Data governance"


def test_it_shows_a_metrics_details_as_tables_not_a_python_printout():
    # given: details as a metric stores them (nested dicts, a list of rows, a long list, text to escape)
    details = {"groups": {"F": {"selection_rate": 0.123456}}, "rows": [{"eps": 0.1, "accuracy": 0.9}],
               "features": list(range(30)), "note": "<b>", "trivial": False, "value": None}

    # when
    html = details_table(details)

    # then
    assert "{" not in html and "'" not in html
    assert "<td>Selection rate</td>" in html and "0.1235" in html
    assert "<th>Eps</th><th>Accuracy</th>" in html
    assert "… and 10 more" in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert "<td>Trivial</td><td>no</td>" in html and "<td>Value</td><td>—</td>" in html
