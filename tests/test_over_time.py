"""Reading a system over time on the dashboard: each metric's trend across its succeeded audits (sparklines
over status bands, one chart per metric), any number of audits compared by dimension, DP variants by ε,
and the plain-words explanation on every metric page."""

import pytest
from django.test import Client

from audit.metrics.catalog import CATALOG, DIMENSIONS, status_for
from audit.metrics.explanations import EXPLANATIONS, explain
from audit.models import AuditRun, MetricResult, ModelVersion
from core import artifacts, charts


def _succeeded(model, dataset, values: dict[str, float | None]) -> AuditRun:
    """A succeeded audit row with these metric values (the rest not applicable), indexed like the worker's."""
    metrics = {}
    for mid in CATALOG:
        value = values.get(mid)
        status = status_for(mid, value) if mid in values else "not_applicable"
        metrics[mid] = {"value": value, "status": status, "reason": None if mid in values else "not measured",
                        "details": {}}
    dimensions = {d: {"score": 1.0, "metrics": ids} for d, ids in DIMENSIONS.items()}
    run = AuditRun.objects.create(organization=model.organization, model_version=model, dataset_version=dataset,
                                  status="succeeded", progress=100, dimension_scores={d: 1.0 for d in DIMENSIONS},
                                  result={"metrics": metrics, "dimensions": dimensions, "timings": {"total_s": 1}})
    MetricResult.objects.bulk_create(
        MetricResult(audit_run=run, metric_id=mid, dimension=CATALOG[mid].dimension, value=m["value"],
                     status=m["status"], reason=m["reason"], details={}) for mid, m in metrics.items())
    return run


@pytest.fixture
def history(alice_model, alice_dataset):
    return [_succeeded(alice_model, alice_dataset, {"FAIR-01": v, "ROB-01": r})
            for v, r in ((0.05, 0.9), (0.15, 0.7), (0.30, 0.5))]


@pytest.fixture
def web(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_the_system_page_draws_each_metrics_trend(web, alice_system, history):
    page = web.get(f"/systems/{alice_system.pk}/").content.decode()
    trends = page.split('id="trends"')[1].split("</table>")[0]
    assert "FAIR-01" in trends and "ROB-01" in trends
    assert trends.count("<svg") == 2  # only the metrics that have values
    fair = trends.split(">FAIR-01</a>")[1].split("</tr>")[0]
    assert fair.count("<circle") == 3 and 'class="badge fail"' in fair  # the latest, 0.30, fails


def test_a_metric_trend_page_has_a_chart_over_status_bands_and_every_audit(web, alice_system, history):
    r = web.get(f"/systems/{alice_system.pk}/trends/FAIR-01/")
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="trend-chart"' in page and "<svg" in page.split('id="trend-chart"')[1]
    rows = page.split('id="trend-table"')[1].split("</table>")[0]
    assert [f"#{run.pk}" in rows for run in history] == [True] * 3
    assert rows.index(f"#{history[2].pk}") < rows.index(f"#{history[0].pk}")  # newest first
    assert web.get(f"/systems/{alice_system.pk}/trends/NOPE-01/").status_code == 404


def test_others_do_not_see_a_trend(charlie, alice_system, history):
    client = Client()
    client.force_login(charlie)
    assert client.get(f"/systems/{alice_system.pk}/trends/FAIR-01/").status_code == 404


@pytest.mark.parametrize("query", ["audits={0},{1},{2}", "audits={0}&audits={1}&audits={2}"])
def test_it_compares_any_number_of_audits_by_dimension(web, history, query):
    ids = [run.pk for run in history]
    r = web.get("/audits/compare/?" + query.format(*ids))
    assert r.status_code == 200
    page = r.content.decode()
    table = page.split('id="compare"')[1].split("</table>")[0]
    assert all(f"#{i} scorer v1" in table for i in ids)  # names in the header
    order = [table.index(f'data-dimension="{d}"') for d in DIMENSIONS]
    assert order == sorted(order)
    fair = table.split('data-metric="FAIR-01"')[1].split("</tr>")[0]
    assert fair.count('class="badge') == 3 and "worse" in fair and "0.2500" in fair  # Δ last − first
    assert 'id="scores-chart"' in page and "<svg" in page.split('id="scores-chart"')[1]


def test_two_audits_still_compare_with_a_and_b(web, history):
    r = web.get(f"/audits/compare/?a={history[0].pk}&b={history[1].pk}")
    assert r.status_code == 200 and 'id="compare"' in r.content.decode()


@pytest.mark.parametrize("query", ["", "audits=1", "audits=x,2"])
def test_a_comparison_needs_two_audit_ids(web, history, query):
    assert web.get("/audits/compare/?" + query).status_code == 404


def test_dp_variants_are_listed_by_epsilon(web, alice, alice_system, alice_model, alice_dataset):
    for version, epsilon in ((2, 8.0), (3, 0.5), (4, 2.0)):
        artifact = artifacts.store(f"dp {version}".encode(), organization=alice_system.organization,
                                   filename="dp.zip")
        ModelVersion.objects.create(
            organization=alice_system.organization, system=alice_system, name="scorer-dp", version=version,
            artifact=artifact, created_by=alice, format="torch-zoo", classes=["bad", "good"], parent=alice_model,
            training_dataset=alice_dataset, dp={"epsilon": epsilon, "delta": 1e-5, "noise_multiplier": 1.1})
    page = web.get(f"/systems/{alice_system.pk}/").content.decode()
    table = page.split('id="dp-children"')[1].split("</table>")[0]
    assert [table.index(f"scorer-dp v{v}") for v in (3, 4, 2)] == sorted(table.index(f"scorer-dp v{v}")
                                                                       for v in (3, 4, 2))


def test_status_bands_cover_the_range_in_the_direction_of_the_metric():
    assert charts.status_bands(0.1, 0.2, "lower", 0, 1) == [(0, 0.1, "pass"), (0.1, 0.2, "warn"), (0.2, 1, "fail")]
    assert charts.status_bands(0.8, 0.6, "higher", 0.5, 1) == [(0.5, 0.6, "fail"), (0.6, 0.8, "warn"),
                                                                (0.8, 1, "pass")]
    svg = charts.sparkline_svg([0.1, None, 0.3], ["pass", None, "fail"], pass_threshold=0.1, warn_threshold=0.2,
                               direction="lower", titles=["a <b>", "", "c"])
    assert svg.count("<circle") == 2 and "a &lt;b&gt;" in svg and svg.count("<rect") == 3


#
# Understand
#


def test_every_metric_has_an_explanation_in_plain_words():
    assert set(EXPLANATIONS) == set(CATALOG)
    for metric_id in CATALOG:
        text = explain(metric_id)
        for part in ("means", "matters", "fails", "todo"):
            assert len(text[part]) > 40, (metric_id, part)


def test_the_metric_page_explains_the_number(web, history):
    page = web.get(f"/audits/{history[2].pk}/metrics/FAIR-01/").content.decode()
    box = page.split('id="explanation"')[1].split("</section>")[0]
    for heading in ("What the number means", "Why it matters", "What typically causes a fail", "What to do"):
        assert heading in box
    assert explain("FAIR-01")["means"][:30] in box
    assert f"/systems/{history[2].model_version.system_id}/trends/FAIR-01/" in page
