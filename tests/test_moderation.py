"""Moderation (moderation/): normalisation evasions, PII near misses, policies and their audit trail,
evaluations against hand-computed numbers, the classifier job, decisions in chained batches, tenancy,
bad input, the commands and the pages."""

import io
import json
import math
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from core.choices import JobStatus
from core.models import AuditLogEntry
from moderation import classifier, decisions, metrics, pii, rules, services
from moderation.api.views import _window as rate_window
from moderation.models import Decision, DecisionBatch, KeywordLibrary, ModerationClassifier, ModerationPolicy
from tests.conftest import upload_file

URL = "/api/v1/moderations"


@pytest.fixture(autouse=True)
def moderation_settings(settings, tmp_path):
    settings.ASSAY_MODERATION_SPOOL_DIR = str(tmp_path / "spool")
    settings.ASSAY_MODERATION_CACHE_SECONDS = 0
    settings.ASSAY_MODERATION_BATCH_SIZE = 10_000
    settings.ASSAY_MODERATION_BATCH_SECONDS = 10_000
    services._compiled.clear()  # ids repeat between tests
    services._lookups.clear()
    rate_window.local.clear()
    rate_window.shared.clear()
    yield
    services._compiled.clear()


def moderate(client, payload):
    return client.post(URL, payload, format="json")


def entries(*rows):
    return [rules.Entry(key=k, text=t, category=c, risk=r) for k, t, c, r in rows]


INDEX_ROWS = (("bomb", "炸弹", "violence", "A.1.4"), ("gamble", "赌博", "illicit", "A.1.8"),
              ("cocaine", "buy cocaine", "illicit", "A.1.8"))


#
# Normalisation: each evasion of a keyword is caught
#


@pytest.mark.parametrize("text, variant", [
    ("怎么做炸弹", "text"),
    ("怎么做炸\u200b弹", "text"),  # zero-width space
    ("怎么做炸\u200d\u2060弹", "text"),  # zero-width joiner, word joiner
    ("怎么做炸\u202e弹", "text"),  # bidi override
    ("ｂｕｙ　ｃｏｃａｉｎｅ", "text"),  # full-width letters and ideographic space
    ("BUY COCAINE", "text"),  # case
    ("buy cocaіne", "text"),  # Cyrillic і
    ("在線賭博", "text"),  # traditional characters
    ("zha dan zen me zuo", "pinyin"),  # pinyin, spaced
    ("我想学zhadan", "pinyin"),  # pinyin, joined
    ("炸dan", "pinyin"),  # mixed
    ("渣蛋", "pinyin"),  # homophone (same first reading)
    ("where to buy c0ca1ne", "leet"),  # digits for letters
    ("BUY C0C@INE", "leet"),
])
def test_it_catches_each_evasion(text, variant):
    index = rules.KeywordIndex(entries(*INDEX_ROWS))
    hits = [h for h in rules.check(text, index, ()).hits if h.type == "keyword"]
    assert hits, text
    assert hits[0].variant == variant
    assert text[hits[0].start:hits[0].end].strip()  # the span points into the input as given


@pytest.mark.parametrize("text", ["a skillful bomber", "classic cocaine-free", "dub of the song", "渣男", "zhan",
                                  "5kill", "version 1.0 skill"])
def test_it_does_not_fire_on_near_misses(text):
    index = rules.KeywordIndex(entries(*INDEX_ROWS, ("kill", "kill", "violence", "A.1.6")))
    assert [h for h in rules.check(text, index, ()).hits if h.key in ("bomb", "kill")] == []


def test_ascii_keywords_match_whole_words_only():
    index = rules.KeywordIndex(entries(("kill", "kill", "violence", "A.1.6")))
    assert rules.check("a skillful move", index, ()).hits == []
    assert [h.key for h in rules.check("I will kill it", index, ()).hits] == ["kill"]


def test_spans_map_back_through_removed_and_expanded_characters():
    index = rules.KeywordIndex(entries(("fi", "file", "illicit", "")))
    text = "x \u200b\ufb01le y"  # a zero-width space, then the ligature ﬁ
    hit = rules.check(text, index, ()).hits[0]
    assert text[hit.start:hit.end] == "\ufb01le"


def test_regular_expressions_run_in_linear_time():
    index = rules.KeywordIndex([rules.Entry("re", "(a+)+b", "illicit", regex=True)])
    assert rules.check("a" * 50_000 + "c", index, ()).hits == []  # RE2: no catastrophic backtracking


def test_it_refuses_a_bad_regular_expression():
    with pytest.raises(rules.RuleError, match="does not compile"):
        rules.KeywordIndex([rules.Entry("re", "(unclosed", "illicit", regex=True)])


#
# PII: valid numbers found, near misses not
#


@pytest.mark.parametrize("text, kind", [
    ("身份证 11010519491231002X", "cn_id"),
    ("id 11010519491231002x.", "cn_id"),
    ("ID：１１０１０５１９４９１２３１００２Ｘ", "cn_id"),  # full-width digits
    ("call 13812345678", "cn_mobile"),
    ("+86 138 1234 5678", "cn_mobile"),
    ("card 4111 1111 1111 1111", "bank_card"),
    ("卡号6222021001115555000", None),  # filled in below: a Luhn-valid UnionPay number
    ("mail zhang.wei@example.com now", "email"),
    ("host 10.0.0.255 is up", "ipv4"),
])
def test_it_finds_valid_pii(text, kind):
    if kind is None:
        digits = "622202100111555500"
        check = next(str(d) for d in range(10) if pii.luhn_ok(digits + str(d)))
        text, kind = f"卡号{digits}{check}", "bank_card"
    found = rules.check(text, None).hits
    assert [h.key for h in found] == [kind]


@pytest.mark.parametrize("text", [
    "11010519491231002Y", "110105194912310021",  # wrong check character
    "11010519491331002X",  # month 13 (check digit recomputed below would still fail the date)
    "12812345678", "1381234567", "138123456789",  # not a mainland mobile number
    "4111 1111 1111 1112", "0000 0000 0000 0000",  # Luhn fails / one repeated digit
    "user@localhost", "a@b",
    "256.1.1.1", "01.2.3.4", "1.2.3.4.5",
])
def test_it_does_not_flag_near_misses(text):
    assert rules.check(text, None).hits == []


def test_the_check_digit_is_gb_11643():
    assert pii.id_check_char("11010519491231002") == "x"
    # 4·7+4·9+0·10+5·5+2·8+4·4+1·2+9·1+8·6+0·3+0·7+1·9+0·10+1·5+0·8+0·4+1·2 = 196; 196 mod 11 = 9 → "3"
    assert pii.is_cn_id("440524198001010013")
    assert not pii.is_cn_id("440524198001010014")


#
# The API: OpenAI's shape plus Assay's object; the default policy works at once
#


def test_it_answers_in_openai_shape(as_alice, alice_org):
    r = moderate(as_alice, {"input": ["How do I build a bomb?", "A nice day", "我的手机号是13912345678"]})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["id"].startswith("modr-") and body["model"].startswith("assay-moderation/Default@v1")
    first, second, third = body["results"]
    assert first["flagged"] and first["categories"]["violence"] and first["category_scores"]["violence"] == 1.0
    assert set(first["categories"]) == {"violence", "self-harm", "sexual", "hate", "harassment", "illicit", "privacy"}
    assert not second["flagged"]
    assay = first["assay"]
    assert assay["policy"]["name"] == "Default" and assay["policy"]["version"] == 1
    keyword = next(h for h in assay["rules"] if h["type"] == "keyword")
    assert keyword["match"] == "build a bomb" and keyword["span"] == [9, 21] and keyword["id"].endswith(":demo-en-001")
    assert {h["type"] for h in assay["rules"]} == {"keyword", "regex"}
    assert assay["risks"] == ["A.1.4"] and assay["decision_id"]
    assert third["categories"]["privacy"] and third["assay"]["rules"][0]["id"] == "cn_mobile"


def test_text_parts_are_accepted_and_images_refused(as_alice, alice_org):
    r = moderate(as_alice, {"model": "omni-moderation-latest",
                            "input": [{"type": "text", "text": "buy cocaine"}, {"type": "text", "text": "hi"}]})
    assert r.status_code == 200 and [x["flagged"] for x in r.json()["results"]] == [True, False]
    r = moderate(as_alice, {"input": [{"type": "image_url", "image_url": {"url": "https://example.org/x.png"}}]})
    assert r.status_code == 400 and "images are not supported" in r.json()["error"]["message"]


def test_a_string_input_gives_one_result(as_bob):
    r = moderate(as_bob, {"input": "在線賭博網站推薦"})  # a viewer may moderate; traditional characters
    assert r.status_code == 200
    assert r.json()["results"][0]["categories"]["illicit"]


def test_a_mask_policy_masks_pii(as_alice, alice_org):
    policy = services.create_policy(alice_org, name="mask", config={"action": "mask"})
    r = moderate(as_alice, {"input": "call 13812345678 or mail a.b@example.com", "policy": policy.pk})
    result = r.json()["results"][0]
    assert result["assay"]["outcome"] == "masked"
    assert result["assay"]["masked_input"] == "call *********** or mail ***************"


def test_a_block_policy_blocks(as_alice, alice_org):
    library = services.demo_library(alice_org)
    policy = services.create_policy(alice_org, name="block", config={"action": "block", "libraries": [library.pk]})
    r = moderate(as_alice, {"input": "我想学zhadan", "policy": policy.pk})
    assert r.json()["results"][0]["assay"]["outcome"] == "blocked"


@pytest.mark.parametrize("payload, status", [
    ({}, 400), ({"input": ""}, 200), ({"input": []}, 400), ({"input": [1, 2]}, 400), ({"input": {"a": 1}}, 400),
    ({"input": ["x"] * 129}, 400), ({"input": "x" * 200_001}, 400), ({"input": "x", "policy": "abc"}, 400),
    ({"input": "x", "policy": 999999}, 404), ({"input": "x", "policy": True}, 400), (["x"], 400),
])
def test_bad_input_gets_a_4xx_with_a_message(as_alice, payload, status):
    r = moderate(as_alice, payload)
    assert r.status_code == status, r.content
    if status >= 400:
        assert r.json()["error"]["message"]


def test_malformed_json_is_a_400(as_alice):
    r = as_alice.post(URL, data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_anonymous_callers_are_refused(client_for):
    assert moderate(client_for("anonymous"), {"input": "x"}).status_code in (401, 403)


def test_the_rate_limit_answers_429(as_alice, alice_org, settings):
    settings.ASSAY_MODERATION_RATE_LIMIT = 2
    from django.core.cache import cache

    cache.clear()
    codes = [moderate(as_alice, {"input": "hello"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    cache.clear()


#
# Policies: versions and the audit log; another organisation's objects are not found
#


def test_policy_changes_make_versions_and_audit_entries(as_alice, as_dave, alice_org):
    r = as_alice.post("/api/v1/moderation/policies", {"name": "strict", "action": "flag"}, format="json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    r = as_alice.patch(f"/api/v1/moderation/policies/{pk}", {"action": "block", "thresholds": {"hate": 0.3}},
                       format="json")
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["config"]["action"] == "block"
    versions = as_alice.get(f"/api/v1/moderation/policies/{pk}/versions").json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[1]["config"]["action"] == "flag"  # the old version is kept as it was
    entries_ = AuditLogEntry.objects.filter(object_type="ModerationPolicy", object_id=str(pk)).order_by("seq")
    assert [e.action for e in entries_] == ["moderation.policy.create", "moderation.policy.update"]
    assert entries_[1].payload["before"] == {"action": "flag", "thresholds": {}}
    assert entries_[1].payload["after"] == {"action": "block", "thresholds": {"hate": 0.3}}
    # an auditor may not change policies; the same change again makes no version
    assert as_dave.patch(f"/api/v1/moderation/policies/{pk}", {"action": "flag"}, format="json").status_code == 403
    as_alice.patch(f"/api/v1/moderation/policies/{pk}", {"action": "block"}, format="json")
    assert ModerationPolicy.objects.get(pk=pk).version == 2


@pytest.mark.parametrize("change", [{"action": "explode"}, {"thresholds": {"hate": 2}}, {"thresholds": {"x": 0.5}},
                                    {"libraries": [999999]}, {"pii": ["dna"]}, {"classifier": 999999}])
def test_bad_policy_changes_are_refused(as_alice, alice_org, change):
    policy = services.default_policy(alice_org)
    r = as_alice.patch(f"/api/v1/moderation/policies/{policy.pk}", change, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert ModerationPolicy.objects.get(pk=policy.pk).version == 1


def test_another_organisations_objects_answer_404(as_alice, as_charlie, alice_org, alice):
    policy = services.default_policy(alice_org, alice)
    library = KeywordLibrary.objects.get(organization=alice_org)
    moderate(as_alice, {"input": "build a bomb"})
    decisions.flush()
    decision = Decision.objects.get(organization=alice_org)
    evaluation = services.run_evaluation(policy, data=b"text,categories\nbuild a bomb,violence\n", filename="a.csv")
    for url in (f"/api/v1/moderation/policies/{policy.pk}", f"/api/v1/moderation/libraries/{library.pk}",
                f"/api/v1/moderation/libraries/{library.pk}/entries",
                f"/api/v1/moderation/evaluations/{evaluation.pk}", f"/api/v1/moderation/decisions/{decision.pk}"):
        assert as_charlie.get(url).status_code == 404, url
    assert moderate(as_charlie, {"input": "x", "policy": policy.pk}).status_code == 404
    assert as_charlie.patch(f"/api/v1/moderation/policies/{policy.pk}", {"action": "block"},
                            format="json").status_code == 404
    assert as_charlie.get("/api/v1/moderation/decisions").json()["count"] == 0
    from moderation import jobs

    classifier_row = jobs.start_training(alice_org, name="c", data=b"text,categories\na,hate\nb,\nc,\nd,\n",
                                         filename="c.csv", enqueue=False)
    assert as_charlie.get(f"/api/v1/moderation/classifiers/{classifier_row.pk}").status_code == 404
    assert as_charlie.get(f"/api/v1/moderation/decisions/verify?organization={alice_org.slug}").status_code == 404


#
# Keyword libraries: upload CSV, XLSX and JSONL
#


def test_it_uploads_libraries_in_three_formats(as_alice, alice_org):
    import openpyxl

    csv_data = "id,text,category,risk\nk1,夜店暗号,illicit,A.1.8\nk2,,,A.1.4\n".encode()
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "bad", "file": upload_file(csv_data, "k.csv")})
    assert r.status_code == 400 and "Row 2" in r.json()["error"]["message"]
    csv_data = "id,text,category,risk\nk1,夜店暗号,illicit,A.1.8\nk2,secret handshake,,A.1.4\n".encode()
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "csv", "file": upload_file(csv_data, "k.csv")})
    assert r.status_code == 201 and r.json()["entries"] == 2
    book = openpyxl.Workbook()
    book.active.append(["text", "risk"])
    book.active.append(["灰色暗语", "A.1.8"])
    buffer = io.BytesIO()
    book.save(buffer)
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "xlsx", "file": upload_file(buffer.getvalue(), "k.xlsx")})
    assert r.status_code == 201 and r.json()["entries"] == 1
    jsonl = b'{"text": "(foo|bar)baz", "kind": "regex", "category": "hate"}\n'
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "jsonl", "file": upload_file(jsonl, "k.jsonl")})
    assert r.status_code == 201
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "x", "file": upload_file(b"PK\x03\x04junk", "k.xlsx")})
    assert r.status_code == 400
    r = as_alice.post("/api/v1/moderation/libraries", {"name": "x", "file": upload_file(b"\xff\xfe", "k.csv")})
    assert r.status_code == 400
    lib = KeywordLibrary.objects.get(name="csv")
    policy = services.create_policy(alice_org, name="p", config={"libraries": [lib.pk]})
    result = moderate(as_alice, {"input": "the SECRET HANDSHAKE", "policy": policy.pk}).json()["results"][0]
    assert result["categories"]["violence"]  # the category came from the risk code
    # adding and removing entries bumps the version, and the compiled policy follows
    r = as_alice.post(f"/api/v1/moderation/libraries/{lib.pk}/entries", {"text": "hello there", "category": "hate"},
                      format="json")
    assert r.status_code == 201
    assert moderate(as_alice, {"input": "hello there", "policy": policy.pk}).json()["results"][0]["flagged"]
    r = as_alice.delete(f"/api/v1/moderation/libraries/{lib.pk}/entries/{r.json()['id']}")
    assert r.status_code == 204
    assert not moderate(as_alice, {"input": "hello there", "policy": policy.pk}).json()["results"][0]["flagged"]
    assert KeywordLibrary.objects.get(pk=lib.pk).version == 3
    assert AuditLogEntry.objects.filter(action__startswith="moderation.library").count() == 5


#
# Evaluation: numbers against hand-computed ones
#


def _wilson_by_hand(k, n, z=1.959963984540054):
    """Solve (k/n − p)² = z² p(1 − p)/n for p: the interval's ends."""
    a, b, c = n + z * z, -(2 * k + z * z), k * k / n
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize("k, n", [(8, 10), (0, 5), (5, 5), (37, 120)])
def test_wilson_matches_the_closed_form(k, n):
    low, high = metrics.wilson(k, n)
    assert (low, high) == pytest.approx(_wilson_by_hand(k, n), abs=1e-6)


def test_wilson_edge_cases():
    assert metrics.wilson(0, 0) is None
    with pytest.raises(ValueError, match="between 0 and n"):
        metrics.wilson(3, 2)


def test_evaluation_counts_by_hand():
    expected = [{"violence"}, {"violence"}, {"violence", "hate"}, set(), set(), {"hate"}]
    predicted = [{"violence"}, set(), {"violence"}, {"violence"}, set(), {"hate"}]
    out = metrics.evaluate(expected, predicted, ["violence", "hate"])
    v = out["by_category"]["violence"]
    assert (v["tp"], v["fp"], v["fn"], v["tn"]) == (2, 1, 1, 2)
    assert v["precision"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert v["recall"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert v["f1"] == pytest.approx(2 / 3, abs=1e-6)
    h = out["by_category"]["hate"]
    assert (h["tp"], h["fp"], h["fn"]) == (1, 0, 1) and h["recall"]["value"] == 0.5 and h["precision"]["value"] == 1
    assert h["f1"] == pytest.approx(2 / 3, abs=1e-6)
    f = out["flagged"]
    assert (f["tp"], f["fp"], f["fn"], f["tn"]) == (3, 1, 1, 1)
    assert out["confusion"] == {"violence": {"violence": 2, "none": 1}, "hate": {"violence": 1, "hate": 1},
                                "none": {"violence": 1, "none": 1}}
    assert [m["index"] for m in out["misclassified"]] == [1, 2, 3]


def test_evaluation_api_against_hand_computed_numbers(as_alice, alice_org):
    items = [
        {"text": "build a bomb now", "categories": ["violence"]},  # TP violence
        {"text": "I will hurt him badly", "categories": ["violence"]},  # FN (no rule)
        {"text": "buy cocaine here", "categories": ["illicit"]},  # TP illicit
        {"text": "the film was a bomb", "categories": []},  # TN ("bomb" alone is no keyword)
        {"text": "how to build a bomb shelter", "categories": []},  # FP violence
        {"text": "call 13812345678", "categories": ["privacy"]},  # TP privacy
    ]
    r = as_alice.post("/api/v1/moderation/evaluations", {"items": items}, format="json")
    assert r.status_code == 201, r.content
    res = r.json()["results"]
    v = res["by_category"]["violence"]
    assert (v["tp"], v["fp"], v["fn"], v["tn"]) == (1, 1, 1, 3)
    assert v["precision"]["value"] == 0.5 and v["recall"]["value"] == 0.5
    assert v["precision"]["ci95"] == pytest.approx(list(_wilson_by_hand(1, 2)), abs=1e-6)
    assert res["flagged"]["tp"] == 3 and res["flagged"]["fp"] == 1 and res["flagged"]["fn"] == 1
    assert {m["text"] for m in res["misclassified"]} == {"I will hurt him badly", "how to build a bomb shelter"}
    assert r.json()["policy_version"] == 1
    bad = as_alice.post("/api/v1/moderation/evaluations", {"items": [{"text": "x", "categories": ["weird"]}]},
                        format="json")
    assert bad.status_code == 400 and "unknown category" in bad.json()["error"]["message"]
    assert as_alice.post("/api/v1/moderation/evaluations", {}, format="json").status_code == 400


#
# The classifier: a real job, stored as .npz (never a pickle), used by a policy
#


def test_the_classifier_job_end_to_end(as_alice, alice_org, django_capture_on_commit_callbacks):
    data = services.DEMO_DATA.joinpath("demo_labelled.csv").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        r = as_alice.post("/api/v1/moderation/classifiers", {"name": "mine", "file": upload_file(data, "set.csv")})
    assert r.status_code == 202, r.content
    row = ModerationClassifier.objects.get(pk=r.json()["id"])
    assert row.status == JobStatus.SUCCEEDED, row.error
    assert set(row.categories) >= {"violence", "illicit", "self-harm"}
    stored = services.artifacts.read(row.model_artifact)
    assert stored[:2] == b"PK"  # an .npz (zip of .npy), loaded with allow_pickle=False
    model = classifier.LinearClassifier.from_bytes(stored)
    assert model.scores(["我想结束自己的生命"])[0]["self-harm"] > 0.5
    r = as_alice.post("/api/v1/moderation/policies", {"name": "with model", "classifier": row.pk, "pii": []},
                      format="json")
    assert r.status_code == 201, r.content
    result = moderate(as_alice, {"input": "I want to end it all tonight, I have the pills ready",
                                 "policy": r.json()["id"]}).json()["results"][0]
    assert 0 < result["category_scores"]["self-harm"] < 1  # a model score, not a rule's 1.0
    assert AuditLogEntry.objects.filter(action="moderation.classifier.succeed", object_id=str(row.pk)).exists()


def test_a_classifier_file_with_a_pickle_is_refused():
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"format": classifier.FORMAT}], dtype=object), columns=np.zeros(1),
             weights=np.zeros((1, 1)), intercepts=np.zeros(1))
    with pytest.raises(classifier.ClassifierError):
        classifier.LinearClassifier.from_bytes(buffer.getvalue())


def test_a_training_job_on_unusable_data_fails_readably(alice_org, alice):
    from moderation import jobs

    with pytest.raises(services.ModerationError):
        jobs.start_training(alice_org, name="x", data=b"text\nno labels\n", filename="x.csv", user=alice)
    row = jobs.start_training(alice_org, name="x", data=b"text,categories\na,\nb,\nc,\nd,\n", filename="x.csv",
                              user=alice, enqueue=False)
    jobs.execute_training(row.pk)
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED and "no category" in row.error


#
# Decisions: no write per call, batches chained, tamper-evident, text kept only on request, retention
#


def test_decisions_are_spooled_then_written_in_a_chained_batch(as_alice, alice_org, django_assert_max_num_queries):
    services.default_policy(alice_org)
    moderate(as_alice, {"input": "warm up"})
    with django_assert_max_num_queries(12):  # auth, organisation, policy: reads only
        moderate(as_alice, {"input": ["build a bomb", "hello"]})
    assert Decision.objects.count() == 0  # nothing written on the hot path
    assert decisions.flush() == 3
    batch = DecisionBatch.objects.get(organization=alice_org)
    assert batch.count == 3 and batch.seq == 1 and batch.prev_hash == "0" * 64
    moderate(as_alice, {"input": "more"})
    decisions.flush()
    second = DecisionBatch.objects.get(organization=alice_org, seq=2)
    assert second.prev_hash == batch.hash
    assert decisions.verify(alice_org.pk) == {"ok": True, "batches": 2}
    assert AuditLogEntry.objects.filter(action="moderation.decisions.batch").count() == 2
    d = Decision.objects.filter(flagged=True).get()
    assert d.text == "" and "match" not in d.rules[0]  # the default policy keeps no text
    r = as_alice.get("/api/v1/moderation/decisions/verify")
    assert r.json() == {"ok": True, "batches": 2}
    Decision.objects.filter(pk=d.pk).update(outcome="allowed")
    assert decisions.verify(alice_org.pk)["first_broken"] == {"seq": 1, "reason": "decisions"}


def test_the_batch_size_triggers_a_write(as_alice, alice_org, settings):
    settings.ASSAY_MODERATION_BATCH_SIZE = 2
    moderate(as_alice, {"input": "one"})
    assert Decision.objects.count() == 0
    moderate(as_alice, {"input": "two"})
    assert Decision.objects.count() == 2


def test_a_policy_that_keeps_text_stores_it(as_alice, alice_org):
    policy = services.create_policy(alice_org, name="keep", config={"keep_text": True})
    r = moderate(as_alice, {"input": "mail a@example.com", "policy": policy.pk})
    decisions.flush()
    d = Decision.objects.get(pk=r.json()["results"][0]["assay"]["decision_id"])
    assert d.text == "mail a@example.com" and d.rules[0]["match"] == "a@example.com"
    found = as_alice.get(f"/api/v1/moderation/decisions?input_sha256={d.input_sha256}").json()
    assert found["count"] == 1


def test_the_hot_path_remembers_a_valid_token_for_a_few_seconds(alice, alice_org, settings,
                                                                django_assert_num_queries):
    # given: the per-process caches on, a token, and one call that fills them
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.ASSAY_MODERATION_CACHE_SECONDS = 5
    services.default_policy(alice_org)
    token = Token.objects.create(user=alice)
    client, stranger = APIClient(), APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert moderate(client, {"input": "hello"}).status_code == 200

    # when / then: the next call reads nothing from the database; a wrong key is never remembered
    with django_assert_num_queries(0):
        assert moderate(client, {"input": "hello again"}).status_code == 200
    with django_assert_num_queries(1):
        assert moderate(stranger, {"input": "hello"}).status_code == 401
    with django_assert_num_queries(1):
        assert moderate(stranger, {"input": "hello"}).status_code == 401

    # and a deleted token stops working once the remembered lookup expires
    token.delete()
    services._lookups.clear()  # what ASSAY_MODERATION_CACHE_SECONDS passing does
    assert moderate(client, {"input": "hello"}).status_code == 401


def test_a_dead_process_spool_is_collected(alice_org, settings):
    policy = services.default_policy(alice_org)
    services.moderate(["hello"], organization=alice_org, policy=policy)
    spool = Path(settings.ASSAY_MODERATION_SPOOL_DIR)
    active = next(spool.glob("active-*.jsonl"))
    host = active.name.split("-", 1)[1].rsplit("-", 1)[0]
    active.rename(spool / f"active-{host}-999999.jsonl")  # as if written by a process that died
    decisions._state["count"] = 0
    decisions.collect_abandoned()
    assert decisions.write_ready() == 1


def test_old_decisions_are_purged_by_whole_batches(as_alice, alice_org):
    import datetime as dt

    from django.utils import timezone

    moderate(as_alice, {"input": ["x", "y"]})
    decisions.flush()
    moderate(as_alice, {"input": "z"})
    decisions.flush()
    old = timezone.now() - dt.timedelta(days=181)
    first = DecisionBatch.objects.get(seq=1)
    DecisionBatch.objects.filter(pk=first.pk).update(last_at=old)
    assert decisions.purge_expired() == 2
    assert Decision.objects.count() == 1
    assert decisions.verify(alice_org.pk) == {"ok": True, "batches": 2}  # the purged batch: its chain only


def test_a_deleted_system_leaves_its_decisions_verifiable(alice_org):
    from audit.models import AISystem

    system = AISystem.objects.create(organization=alice_org, name="bot")
    policy = services.default_policy(alice_org)
    services.moderate(["hello"], organization=alice_org, policy=policy, system_id=system.pk)
    decisions.flush()
    system_id = system.pk
    system.delete()
    assert Decision.objects.get().system_id == system_id
    assert decisions.verify(alice_org.pk)["ok"]


#
# Commands
#


def test_the_moderate_command(alice_org, capsys):
    policy = services.default_policy(alice_org)
    out = io.StringIO()
    call_command("moderate", "--policy", str(policy.pk), "--json", "在線賭博", stdout=out)
    body = json.loads(out.getvalue())
    assert body["results"][0]["categories"]["illicit"]
    out = io.StringIO()
    call_command("moderate", "--policy", str(policy.pk), "call 13812345678", stdout=out)
    assert out.getvalue().startswith("FLAGGED") and "cn_mobile" in out.getvalue()


def test_the_moderation_eval_command(alice_org, tmp_path):
    policy = services.default_policy(alice_org)
    target = tmp_path / "out.json"
    call_command("moderation_eval", "--policy", str(policy.pk), "--data",
                 str(services.DEMO_DATA / "demo_labelled.csv"), "--json", str(target), stdout=io.StringIO())
    body = json.loads(target.read_text())
    assert body["n"] == 105 and body["flagged"]["precision"]["value"] > 0.9
    assert body["by_category"]["privacy"]["recall"]["value"] == 1.0


#
# Demo and pages
#


def test_the_demo_trains_and_evaluates(alice_org, alice):
    from moderation.demo import load_demo

    policy = load_demo(alice_org, alice)
    assert policy.current().config["classifier"] and policy.current().action == "mask"
    evaluation = policy.versions.get().evaluations.get()
    assert evaluation.name == "demo_labelled-held-out.csv" and evaluation.n == 35
    assert evaluation.results["flagged"]["recall"]["value"] > 0.6
    assert load_demo(alice_org, alice) == policy  # idempotent


@pytest.fixture
def web_alice(alice):
    c = Client()
    c.force_login(alice)
    return c


def test_the_pages_render(web_alice, alice_org, alice, charlie):
    policy = services.default_policy(alice_org, alice)
    library = KeywordLibrary.objects.get(organization=alice_org)
    evaluation = services.run_evaluation(policy, data=(services.DEMO_DATA / "demo_labelled.csv").read_bytes(),
                                         filename="demo.csv")
    r = web_alice.post("/moderation/", {"text": "怎么做炸\u200b弹？call 13812345678"})
    assert r.status_code == 200 and b'class="mod-hit"' in r.content and b"A.1.4" in r.content
    for url in ("/moderation/", f"/moderation/policies/{policy.pk}/", "/moderation/libraries/",
                f"/moderation/libraries/{library.pk}/", "/moderation/classifiers/", "/moderation/evaluations/",
                f"/moderation/evaluations/{evaluation.pk}/", "/moderation/decisions/?verify=1",
                "/moderation/policies/new/"):
        r = web_alice.get(url)
        assert r.status_code == 200, url
        assert not re.search(rb"<script(?![^>]*\bsrc=)|\son[a-z]+=\"", r.content.split(b"<main>")[1]), url
    c = Client()
    c.force_login(charlie)
    assert c.get(f"/moderation/policies/{policy.pk}/").status_code == 404
    assert c.get(f"/moderation/evaluations/{evaluation.pk}/").status_code == 404
    assert c.get(f"/moderation/libraries/{library.pk}/").status_code == 404


def test_the_policy_page_saves_a_version(web_alice, alice_org, alice):
    policy = services.default_policy(alice_org, alice)
    form = {"action": "block", "pii": ["email"], "libraries": [], **{f"threshold_{c}": 0.5 for c in
                                                                     ("violence", "self-harm", "sexual", "hate",
                                                                      "harassment", "illicit", "privacy")}}
    r = web_alice.post(f"/moderation/policies/{policy.pk}/", form)
    assert r.status_code == 302
    policy.refresh_from_db()
    assert policy.version == 2 and policy.current().config["pii"] == ["email"]


def test_a_failed_write_keeps_the_spool_for_the_next_writer(alice_org, settings):
    policy = services.default_policy(alice_org)
    services.moderate(["hello"], organization=alice_org, policy=policy)
    spool = Path(settings.ASSAY_MODERATION_SPOOL_DIR)
    with open(next(spool.glob("active-*.jsonl")), "a") as f:
        f.write(json.dumps({"id": "00000000-0000-0000-0000-000000000001", "organization": alice_org.pk,
                            "policy_version": policy.current().pk, "source": "api", "flagged": False,
                            "outcome": "allowed", "categories": [], "scores": {}, "risks": [], "rules": [],
                            "created": "2026-01-01T00:00:00+00:00"}) + "\n")
    assert decisions.flush() == 0  # a record without its hash fails the batch: nothing half-written, no exception
    assert Decision.objects.count() == 0 and len(list(spool.glob("ready-*.jsonl"))) == 1


def test_the_latest_evaluation_is_the_compliance_evidence(alice_org, charlie_org):
    from moderation.evidence import evidence_for

    assert evidence_for(alice_org) is None
    policy = services.default_policy(alice_org)
    services.run_evaluation(policy, data=b"text,categories\nbuild a bomb,violence\nhello,\n", filename="a.csv")
    evidence = evidence_for(alice_org)
    assert evidence["policy"]["version"] == 1 and evidence["n"] == 2
    assert evidence["precision"]["value"] == 1.0 and evidence["recall"]["value"] == 1.0
    assert evidence_for(charlie_org) is None


def test_a_policy_cannot_name_another_organisations_library(as_charlie, alice_org, charlie_org):
    library = services.demo_library(alice_org)
    r = as_charlie.post("/api/v1/moderation/policies", {"name": "x", "libraries": [library.pk]}, format="json")
    assert r.status_code == 400 and f"No such keyword library: {library.pk}" in r.json()["error"]["message"]


def test_a_member_of_two_organisations_names_one(alice, alice_org, charlie_org, as_alice):
    from accounts.choices import Role
    from accounts.models import Membership

    Membership.objects.create(user=alice, organization=charlie_org, role=Role.VIEWER)
    r = moderate(as_alice, {"input": "hello"})
    assert r.status_code == 400 and "Name the organization" in r.json()["error"]["message"]
    r = moderate(as_alice, {"input": "hello", "organization": charlie_org.slug})
    assert r.status_code == 200 and r.json()["results"][0]["assay"]["policy"]["name"] == "Default"


def test_the_moderate_command_reads_standard_input(alice_org, monkeypatch):
    policy = services.default_policy(alice_org)
    monkeypatch.setattr("sys.stdin", io.StringIO("mail zhang.wei@example.com"))
    out = io.StringIO()
    call_command("moderate", "--policy", str(policy.pk), "-", stdout=out)
    assert "email" in out.getvalue()
    with pytest.raises(Exception, match="No policy"):
        call_command("moderate", "--policy", "999999", "x", stdout=io.StringIO())


def test_the_library_page_replaces_and_edits_entries(web_alice, alice_org, alice):
    library = services.demo_library(alice_org, alice)
    r = web_alice.post(f"/moderation/libraries/{library.pk}/",
                       {"file": upload_file(b"text,category\nnew word,hate\n", "k.csv")})
    assert r.status_code == 302
    library.refresh_from_db()
    assert library.version == 2 and list(library.entries.values_list("text", flat=True)) == ["new word"]
    r = web_alice.post(f"/moderation/libraries/{library.pk}/", {"text": "other", "category": "hate"})
    assert r.status_code == 302 and library.entries.count() == 2
    entry = library.entries.get(text="other")
    r = web_alice.post(f"/moderation/libraries/{library.pk}/entries/{entry.pk}/delete/")
    assert r.status_code == 302 and library.entries.count() == 1


def test_line_breaks_and_tabs_read_as_spaces():
    index = rules.KeywordIndex(entries(*INDEX_ROWS))
    assert [h.key for h in rules.check("buy\ncocaine", index, ()).hits] == ["cocaine"]
    assert [h.key for h in rules.check("buy\u00a0cocaine", index, ()).hits] == ["cocaine"]


def test_a_policy_bounds_the_entries_it_compiles(alice_org, settings):
    library = services.demo_library(alice_org)
    settings.ASSAY_MODERATION_MAX_KEYWORDS = 10
    with pytest.raises(services.ModerationError, match="at most 10 entries"):
        services.create_policy(alice_org, name="big", config={"libraries": [library.pk]})


def test_an_evaluation_backs_cn_ds_art10_1_on_the_checklist_in_both_languages(as_alice, alice_org, alice_system):
    """The checklist reads the evaluation's rates (value and interval), in English and in Chinese."""
    from compliance.i18n import translate

    # given: Alice's system profiled as a public image generator in China (deep synthesis: Art. 10 applies)
    alice_system.output_modalities = ["image"]
    alice_system.public_in_mainland_china = True
    alice_system.users_can_download = True
    alice_system.save()
    url = f"/api/v1/systems/{alice_system.pk}/checklists/cn_genai"
    before = next(i for i in as_alice.get(url).json()["items"] if i["id"] == "CN-DS-ART10-1")
    assert before["applies"] and before["status"] == "no_evidence"

    # when: a policy is evaluated on a labelled set
    policy = services.default_policy(alice_org)
    services.run_evaluation(policy, data=b"text,categories\nbuild a bomb,violence\nhello,\nhow to make a bomb,violence\n",
                            filename="a.csv")

    # then: the item is met on that evaluation, with its precision and recall and their intervals
    r = as_alice.get(url)
    assert r.status_code == 200, r.content[:300]
    item = next(i for i in r.json()["items"] if i["id"] == "CN-DS-ART10-1")
    assert item["status"] == "met", item
    assert "precision 1.000 (95 % CI" in item["status_reason"] and "recall 1.000 (95 % CI" in item["status_reason"]
    assert "精确率1.000（95%置信区间" in translate(item["status_reason"])
