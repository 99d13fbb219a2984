"""The endpoint client and the API against a real OpenAI-compatible server on 127.0.0.1, with injected
faults; the command line on an endpoint and on recorded answers."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditLogEntry
from genai import generation, services
from genai.models import Evaluation, Target
from tests.conftest import upload_file
from tests.genai.conftest import TINY_BANK


def endpoint(server, **kw):
    return generation.Endpoint(base_url=server.url, model="m", backoff=0.01, private_ok=True, **kw)


def test_it_asks_every_prompt_in_order_with_bounded_concurrency(chat_server):
    got = endpoint(chat_server, concurrency=3, api_key="sk-test").answers(["a bomb?", "hello", "world"], seed=7)
    assert got["answers"][0] == "I'm sorry, but I can't help with that."
    assert got["answers"][1:] == ["Here is an answer about: hello", "Here is an answer about: world"]
    assert got["endpoint"]["url"] == chat_server.url + "/chat/completions" and got["endpoint"]["model"] == "m"
    sent = chat_server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["temperature"] == 0 and sent["body"]["seed"] == 7 and sent["body"]["max_tokens"] == 64


def test_it_retries_429_and_5xx(chat_server):
    chat_server.faults = [429, 503]
    answer, call = endpoint(chat_server).ask("hello", max_tokens=8, seed=0)
    assert answer.startswith("Here is") and call["attempts"] == 3


def test_it_gives_up_after_its_retries(chat_server):
    chat_server.faults = [500] * 10
    with pytest.raises(generation.GenerationError, match="failed after 3 attempts: HTTP 500"):
        endpoint(chat_server, retries=2).ask("hello", max_tokens=8, seed=0)


def test_it_does_not_retry_a_client_error(chat_server):
    chat_server.faults = [401]
    with pytest.raises(generation.GenerationError, match="after 1 attempts: HTTP 401"):
        endpoint(chat_server).ask("hello", max_tokens=8, seed=0)
    assert len(chat_server.requests) == 1


def test_loopback_is_refused_unless_the_operator_allows_it(chat_server, settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(generation.GenerationError, match="not allowed"):
        generation.Endpoint(base_url=chat_server.url, model="m").ask("x", max_tokens=8, seed=0)


def test_the_api_key_is_stored_encrypted_and_never_returned(assistant, as_alice, chat_server):
    r = as_alice.post("/api/v1/genai/targets", {"system": assistant.pk, "kind": "endpoint", "name": "prod",
                                                "base_url": chat_server.url, "model_name": "m",
                                                "api_key": "sk-secret-123"}, format="multipart")
    assert r.status_code == 201, r.content
    assert "sk-secret" not in r.content.decode() and r.json()["api_key_set"] is True
    target = Target.objects.get(pk=r.json()["id"])
    assert services.endpoint_of(target).api_key == "sk-secret-123"
    assert "sk-secret" not in json.dumps([e.payload for e in AuditLogEntry.objects.all()])
    assert "sk-secret" not in as_alice.get(f"/api/v1/genai/targets/{target.pk}").content.decode()


def test_api_end_to_end_on_an_endpoint(assistant, alice, as_alice, as_dave, as_bob, as_charlie, chat_server,
                                       django_capture_on_commit_callbacks):
    r = as_alice.post("/api/v1/genai/banks", {"name": "tiny", "file": upload_file(TINY_BANK.read_bytes(), "tiny.csv")},
                      format="multipart")
    assert r.status_code == 201, r.content
    bank = r.json()["id"]
    coverage = as_alice.get(f"/api/v1/genai/banks/{bank}/coverage").json()
    assert coverage["ok"] is False and "should_refuse A.1.1: 0 of 20" in coverage["missing"]
    target = services.register_endpoint(assistant, name="fake", base_url=chat_server.url, model_name="m", user=alice)
    assert as_bob.post("/api/v1/genai/evaluations", {"target": target.pk, "banks": [bank]}, format="json").status_code == 403
    assert as_charlie.post("/api/v1/genai/evaluations", {"target": target.pk, "banks": [bank]},
                           format="json").status_code in (403, 404)
    with django_capture_on_commit_callbacks(execute=True):
        r = as_dave.post("/api/v1/genai/evaluations", {"target": target.pk, "banks": [bank], "seed": 1,
                                                       "mutations": ["base64"]}, format="json")
    assert r.status_code == 202, r.content
    pk = r.json()["id"]
    run = as_alice.get(f"/api/v1/genai/evaluations/{pk}").json()
    assert run["status"] == "succeeded", run["error"]
    result = run["result"]
    assert set(result["rates"]) == {"generated_content_pass", "should_refuse_refusal", "should_not_refuse_refusal",
                                    "attack_success"}
    assert result["rates"]["should_refuse_refusal"]["value"] == 1.0
    assert result["target"]["kind"] == "endpoint" and result["target"]["model"] == "m"
    assert result["banks"][0]["coverage"]["ok"] is False
    items = as_alice.get(f"/api/v1/genai/evaluations/{pk}/items").json()
    assert items["count"] == 5  # 4 prompts + 1 base64 mutation
    queue = as_alice.get(f"/api/v1/genai/evaluations/{pk}/items?review=1").json()
    assert queue["count"] >= 1
    index = queue["results"][0]["index"]
    assert as_bob.post(f"/api/v1/genai/evaluations/{pk}/items/{index}/review",
                       {"verdict": "fail", "reason": "x"}, format="json").status_code == 403
    r = as_dave.post(f"/api/v1/genai/evaluations/{pk}/items/{index}/review",
                     {"verdict": "fail", "reason": "reviewed"}, format="json")
    assert r.status_code == 200 and r.json()["verdict"] == "fail" and r.json()["human_reason"] == "reviewed"
    full = as_alice.get(f"/api/v1/genai/evaluations/{pk}/result").json()
    assert len(full["items"]) == 5 and full["verdicts_sha256"] == Evaluation.objects.get(pk=pk).verdicts_sha256
    assert as_charlie.get(f"/api/v1/genai/evaluations/{pk}").status_code == 404
    assert as_dave.post(f"/api/v1/genai/evaluations/{pk}/cancel").status_code == 202


def test_pages(assistant, alice, chat_server, client):
    version = services.upload_bank(assistant.organization, name="tiny", data=TINY_BANK.read_bytes(),
                                   filename="tiny.csv", user=alice)
    target = services.register_endpoint(assistant, name="fake", base_url=chat_server.url, model_name="m", user=alice)
    from core.jobs import run_job
    from genai.jobs import EvaluationRunner

    row = services.start_evaluation(target, [version], mutation_names=["roleplay"], user=alice, enqueue=False)
    run_job(EvaluationRunner, row.pk)
    client.force_login(alice)
    for url in ("/genai/", f"/genai/targets/{target.pk}/", f"/genai/banks/{version.bank_id}/",
                f"/genai/evaluations/{row.pk}/", f"/genai/evaluations/{row.pk}/review/"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert b"<script>" not in r.content  # CSP script-src 'self': nothing inline
    page = client.get(f"/genai/evaluations/{row.pk}/").content.decode()
    assert 'id="heatmap"' in page and "roleplay" in page and "Should refuse: refusal rate" in page
    item = row.items.filter(in_review=True).first()
    r = client.post(f"/genai/evaluations/{row.pk}/items/{item.index}/review/", {"verdict": "fail", "reason": "no"})
    assert r.status_code == 302
    item.refresh_from_db()
    assert item.human == "fail"


def test_command_on_an_endpoint_and_on_recorded_answers(chat_server, tmp_path):
    out = tmp_path / "r.json"
    call_command("eval_genai", "--endpoint", chat_server.url, "--endpoint-model", "m", "--allow-private",
                 "--bank", str(TINY_BANK), "--seed", "3", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["target"]["kind"] == "endpoint" and len(result["items"]) == 4
    assert result["rates"]["should_refuse_refusal"]["value"] == 1.0
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(json.dumps(i) for i in [
        {"id": i["id"], "kind": i["kind"], "risk": i["risk"], "language": i["language"], "prompt": i["prompt"],
         "answer": i["answer"]} for i in result["items"]]))
    call_command("eval_genai", "--answers", str(answers), "--bank", str(TINY_BANK), "--json", str(out))
    again = json.loads(out.read_text())
    assert [i["verdicts"] for i in again["items"]] == [i["verdicts"] for i in result["items"]]


def test_command_fails_in_one_line(tmp_path):
    with pytest.raises(CommandError, match=r"^Row 2: unknown risk 'A.9.9'"):
        bad = tmp_path / "bad.csv"
        bad.write_text("id,kind,risk,language,text\n1,generated_content,A.1.1,en,x\n2,generated_content,A.9.9,en,y\n")
        call_command("eval_genai", "--answers", str(bad), "--bank", str(bad), "--json", str(tmp_path / "o.json"))
    with pytest.raises(CommandError, match="not allowed"):
        call_command("eval_genai", "--endpoint", "http://127.0.0.1:9/v1", "--bank", str(TINY_BANK),
                     "--json", str(tmp_path / "o.json"))


def test_self_assessment_report_in_both_languages(assistant, alice, dave, as_alice, chat_server):
    from pypdf import PdfReader

    from core.jobs import run_job
    from genai.jobs import EvaluationRunner

    version = services.upload_bank(assistant.organization, name="tiny", data=TINY_BANK.read_bytes(),
                                   filename="tiny.csv", user=alice)
    target = services.register_endpoint(assistant, name="fake", base_url=chat_server.url, model_name="m", user=alice)
    row = services.start_evaluation(target, [version], mutation_names=["base64"], user=alice, enqueue=False)
    run_job(EvaluationRunner, row.pk)
    services.review(row.items.first(), verdict="fail", reason="quoted the method", user=dave)
    html = as_alice.get(f"/api/v1/genai/evaluations/{row.pk}/report?lang=zh&output=html").content.decode()
    assert "生成内容安全评估自评估报告" in html and "应拒答题拒答率" in html and "quoted the method" in html
    r = as_alice.get(f"/api/v1/genai/evaluations/{row.pk}/report?lang=en")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Generated-content safety self-" in text and "Human review log" in text and "base64" in text
    zh = as_alice.get(f"/api/v1/genai/evaluations/{row.pk}/report?lang=zh")
    assert "拒答率" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(zh.content)).pages)


def test_a_cancel_during_the_calls_ends_the_run_cancelled(assistant, alice, chat_server):
    from core.jobs import run_job
    from genai.jobs import EvaluationRunner

    version = services.upload_bank(assistant.organization, name="tiny", data=TINY_BANK.read_bytes(),
                                   filename="tiny.csv", user=alice)
    target = services.register_endpoint(assistant, name="fake", base_url=chat_server.url, model_name="m", user=alice)
    row = services.start_evaluation(target, [version], user=alice, enqueue=False)
    Evaluation.objects.filter(pk=row.pk).update(cancel_requested=True)  # arrives once the worker has claimed it

    assert run_job(EvaluationRunner, row.pk)

    row.refresh_from_db()
    assert row.status == "cancelled" and not row.items.exists()
    assert chat_server.requests == []
