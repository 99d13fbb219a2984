"""The gateway: an OpenAI-compatible chat-completions proxy with the double insurance around it.

The prompt (every message's text) is moderated; a blocked prompt is answered with a refusal and
never forwarded; under `mask` its personal information is masked before it leaves. The request goes
to the system's endpoint through core.outbound (public addresses only unless the operator allows
private ones; no redirects), with retries and backoff on 429 and 5xx. Each answer's content is
moderated too: a blocked one is replaced by the refusal, a masked one masked. Refusals keep the
chat-completion shape with `finish_reason: "content_filter"` and the decision id.

Non-streaming only: a request with `"stream": true` is refused with a 400 (streaming may come later).
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid

from core import artifacts, outbound

from . import services
from .choices import DecisionSource, Outcome
from .models import ModerationGateway

logger = logging.getLogger(__name__)
REFUSAL = "This request was blocked by the content policy."
ANSWER_REFUSAL = "The answer was withheld by the content policy."
MAX_MESSAGES = 256
BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 5.0
MAX_TIMEOUT_S = 120.0  # a call holds a web worker: timeout × (retries + 1) is at most 8 minutes
MAX_RETRIES = 3


class GatewayError(Exception):
    """The endpoint could not give an answer; `status` is what the gateway answers (429, 502, 504)."""

    def __init__(self, message: str, status: int, code: str):
        super().__init__(message)
        self.status, self.code = status, code


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only the text ones are moderated
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
                         and isinstance(p.get("text"), str))
    return ""


def check_request(body) -> list[dict]:
    """Return the request's messages, or raise ModerationError for a body the gateway cannot forward."""
    if not isinstance(body, dict):
        raise services.ModerationError("The body must be a JSON object", {"body": "expected an object"})
    if body.get("stream"):
        raise services.ModerationError("Streaming is not supported by the gateway yet; send \"stream\": false",
                                       {"stream": "not supported"})
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise services.ModerationError(f"messages must be a list of 1 to {MAX_MESSAGES} messages",
                                       {"messages": "invalid"})
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or \
                not isinstance(m.get("content"), str | list | type(None)):
            raise services.ModerationError("each message needs a role and a content", {"messages": "invalid"})
    return messages


def complete(gateway: ModerationGateway, body: dict) -> dict:
    """Moderate, forward, moderate the answer; return the chat-completion body (with an `assay` object)."""
    messages = check_request(body)
    policy, org, system = gateway.policy, gateway.organization, gateway.system_id
    prompt = "\n".join(_text_of(m.get("content")) for m in messages)
    checked = services.moderate([prompt], organization=org, policy=policy, source=DecisionSource.GATEWAY_PROMPT,
                                system_id=system)["results"][0]
    if checked["assay"]["outcome"] == Outcome.BLOCKED:
        return _refusal(body, checked, REFUSAL)
    forward = copy.deepcopy(body)
    if checked["assay"]["outcome"] == Outcome.MASKED:
        forward["messages"] = _masked_messages(messages, org, policy)
    if gateway.model_name:
        forward["model"] = gateway.model_name
    answer = _call(gateway, forward)
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list):
        raise GatewayError("The endpoint's answer is not a chat completion", 502, "bad_gateway")
    answer_checks = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content"))
        result = services.moderate([text], organization=org, policy=policy, source=DecisionSource.GATEWAY_ANSWER,
                                   system_id=system)["results"][0]
        outcome = result["assay"]["outcome"]
        if outcome == Outcome.BLOCKED:
            message["content"], choice["finish_reason"] = ANSWER_REFUSAL, "content_filter"
        elif outcome == Outcome.MASKED:
            message["content"] = result["assay"]["masked_input"]
        answer_checks.append(_summary(result))
    answer["assay"] = {"prompt": _summary(checked), "answers": answer_checks}
    return answer


def _masked_messages(messages: list[dict], org, policy) -> list[dict]:
    """Return the messages with the PII of every text (plain content or text parts) masked."""

    def mask(text: str) -> str:
        if not text:
            return text
        r = services.moderate([text], organization=org, policy=policy, record=False)["results"][0]
        return r["assay"].get("masked_input", text)

    out = []
    for m in messages:
        m = copy.deepcopy(m)
        if isinstance(m.get("content"), str):
            m["content"] = mask(m["content"])
        elif isinstance(m.get("content"), list):
            for part in m["content"]:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    part["text"] = mask(part["text"])
        out.append(m)
    return out


def _summary(result: dict) -> dict:
    a = result["assay"]
    return {"decision_id": a["decision_id"], "flagged": result["flagged"], "outcome": a["outcome"],
            "categories": [c for c, on in result["categories"].items() if on], "risks": a["risks"],
            "policy": a["policy"]}


def _refusal(body: dict, checked: dict, text: str) -> dict:
    return {"id": f"chatcmpl-assay-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or "assay-gateway",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "content_filter"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "assay": {"prompt": _summary(checked), "answers": [], "refused": True}}


def _call(gateway: ModerationGateway, body: dict) -> dict:
    """POST to the endpoint with retries on 429/5xx and transport failures; return its JSON answer."""
    url = gateway.base_url.rstrip("/") + "/chat/completions"
    headers = {}
    if gateway.api_key_id:
        headers["Authorization"] = "Bearer " + artifacts.read(gateway.api_key).decode()
    last: GatewayError | None = None
    for attempt in range(gateway.max_retries + 1):
        if attempt:
            time.sleep(_delay(attempt, last))
        try:
            response = outbound.post_json(url, body, headers, timeout=gateway.timeout_s)
        except outbound.RefusedURL as exc:
            raise GatewayError(f"The endpoint is not called: {exc}", 502, "endpoint_refused") from None
        except outbound.TransportError as exc:
            status, code = (504, "endpoint_timeout") if str(exc) == "timed out" else (502, "endpoint_unreachable")
            last = GatewayError(f"The endpoint failed: {exc}", status, code)
            continue
        if response.status == 429 or response.status >= 500:
            status, code = (429, "endpoint_rate_limited") if response.status == 429 else (502, "endpoint_error")
            last = GatewayError(f"The endpoint answered {response.status}", status, code)
            last.retry_after = response.headers.get("retry-after")
            continue
        if response.status >= 400:
            raise GatewayError(f"The endpoint refused the request ({response.status})", 502, "endpoint_error")
        try:
            return json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            raise GatewayError("The endpoint's answer is not JSON", 502, "bad_gateway") from None
    raise last


def _delay(attempt: int, last: GatewayError | None) -> float:
    retry_after = getattr(last, "retry_after", None)
    if retry_after and str(retry_after).isdigit():
        return min(float(retry_after), MAX_RETRY_AFTER_S)
    return BACKOFF_S * 2 ** (attempt - 1)


def save_gateway(system, *, policy, base_url: str, model_name: str = "", api_key: str | None = None,
                 timeout_s: float = 30.0, max_retries: int = 2, enabled: bool = True, user=None) -> ModerationGateway:
    """Create or update a system's gateway; the URL is checked against the outbound rules now."""
    from django.db import transaction

    from core import auditlog

    try:
        outbound.check_url(base_url.rstrip("/") + "/chat/completions")
    except outbound.RefusedURL as exc:
        raise services.ModerationError(f"The endpoint URL is refused: {exc}", {"base_url": str(exc)}) from None
    if not 0 < timeout_s <= MAX_TIMEOUT_S or not 0 <= max_retries <= MAX_RETRIES:
        raise services.ModerationError(f"timeout_s must be in (0, {MAX_TIMEOUT_S:g}] and max_retries in "
                                       f"0..{MAX_RETRIES}", {"timeout_s": "out of range"})
    if api_key and (not api_key.isprintable() or not api_key.isascii()):
        raise services.ModerationError("The API key must be printable ASCII", {"api_key": "invalid characters"})
    with transaction.atomic():
        gateway = ModerationGateway.objects.filter(system=system).first() or ModerationGateway(
            organization_id=system.organization_id, system=system)
        gateway.policy, gateway.base_url, gateway.model_name = policy, base_url, model_name
        gateway.timeout_s, gateway.max_retries, gateway.enabled = timeout_s, max_retries, enabled
        if api_key:
            gateway.api_key = artifacts.store(api_key.encode(), organization=system.organization,
                                              filename="gateway-api-key")
        gateway.save()
        auditlog.record("moderation.gateway.save", organization=system.organization_id, actor=user, obj=gateway,
                        payload={"system": system.pk, "policy": policy.pk, "base_url": base_url,
                                 "model_name": model_name, "api_key_set": bool(gateway.api_key_id)})
    return gateway
