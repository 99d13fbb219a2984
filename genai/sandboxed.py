"""What runs inside the model sandbox (`core.sandbox`, entry "genai.generate"): a GGUF chat model
answering prompts with greedy decoding. No Django.

The model file arrives as the input `model.gguf`; transformers + gguf dequantise it to float32 (the
tokenizer and chat template come from the same file). Decoding is greedy, seeded, batched and bounded
by `max_new_tokens`, so the same prompts give the same answers.

Where the time goes (bench/RESULTS.md, 300 prompts × 64 tokens on 2 cores): the prompt pass
(prefill) was about 40 % and the decoding steps 60 %. Hence: prompts are batched by their length in
tokens (a batch sorted by characters held 49 % padding: Chinese and English differ by 3× in characters
per token) and closed before their padding exceeds a quarter of their real tokens (`batches`), the chat
template's shared head (the system turn, 24 of a median 52 tokens) is computed once and its key-value
cache copied into every batch, and batches are up to 64 prompts (a decoding step of a small model is
cheaper per row in a bigger batch). 300 × 64 tokens: 424 s → 206 s. Each change left the answers
identical, token for token (the same verdict hash).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 512
MAX_PROMPTS = 20_000
MAX_BATCH = 128
PADDING_SLACK = 0.25  # a batch closes before its padding would exceed a quarter of its real tokens
Progress = Callable[[float, str], None]


def load(path: Path):
    """Return (tokenizer, model) from a GGUF file, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HOME", "/tmp/hf")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    _cache_gguf_name_maps()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.eval()
    return tokenizer, model


def _cache_gguf_name_maps() -> None:
    """transformers builds gguf's tensor-name map once per tensor (397 times for SmolLM2, 16 s of a 40 s
    load, measured); the map depends on (architecture, layers) only, so build it once."""
    import functools

    import gguf

    if not hasattr(gguf.get_tensor_name_map, "cache_info"):
        gguf.get_tensor_name_map = functools.cache(gguf.get_tensor_name_map)


def encode(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Return the token ids of each prompt in the model's chat template, ready for its answer."""
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    return tokenizer(texts)["input_ids"]


class SharedPrefix:
    """The token ids every prompt starts with (the chat template's system turn) and their key-value cache,
    computed once and copied into each batch, so that no batch computes them again."""

    def __init__(self, model, ids: list[int]):
        import torch
        from transformers import DynamicCache

        self.ids = ids
        self.cache = DynamicCache(config=model.config)
        with torch.inference_mode():
            model(input_ids=torch.tensor([ids]), cache=self.cache, use_cache=True)

    @classmethod
    def of(cls, model, rows: list[list[int]]) -> SharedPrefix | None:
        """Return the prefix all `rows` share, leaving each row at least one token of its own; None if none."""
        n = min(len(r) for r in rows) - 1
        first = rows[0]
        for row in rows[1:]:
            n = next((i for i in range(n) if row[i] != first[i]), n)
        return cls(model, first[:n]) if n > 0 else None

    def for_batch(self, size: int):
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(size)
        return cache


def batches(lengths: list[int], size: int, *, slack: float = PADDING_SLACK) -> list[list[int]]:
    """Return the prompts' indices in batches of at most `size`, by length in tokens, shortest first.

    A batch also closes when the next prompt would pad it by more than `slack` of its real tokens: one
    long prompt among short ones (a 294-token prompt after 43 of about 90) gets its own batch instead of
    padding 43 others to its length.
    """
    out: list[list[int]] = []
    batch: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        if batch and (len(batch) == size or (len(batch) + 1) * lengths[i] > (1 + slack) * (real + lengths[i])):
            out.append(batch)
            batch, real = [], 0
        batch.append(i)
        real += lengths[i]
    return out + [batch] if batch else out


def answer(tokenizer, model, prompts: list[str], *, max_new_tokens: int, seed: int = 0) -> tuple[list[str], int]:
    """Return the greedy answers to `prompts` (one batch) and the number of new tokens generated."""
    return answer_ids(tokenizer, model, encode(tokenizer, prompts), max_new_tokens=max_new_tokens, seed=seed)


def answer_ids(tokenizer, model, rows: list[list[int]], *, max_new_tokens: int, seed: int = 0,
               prefix: SharedPrefix | None = None) -> tuple[list[str], int]:
    """Return the greedy answers to the encoded prompts `rows` (one batch) and the number of new tokens.

    Each row is [shared prefix][padding][its own tokens]: the padding is masked out, and the positions
    count from the mask, so every row is computed as if it stood alone after the prefix.
    """
    import torch

    torch.manual_seed(seed)
    pad = tokenizer.pad_token_id
    head = prefix.ids if prefix is not None else []
    own = [r[len(head):] for r in rows]
    width = max(len(r) for r in own)
    input_ids = torch.tensor([head + [pad] * (width - len(r)) + r for r in own])
    mask = torch.tensor([[1] * len(head) + [0] * (width - len(r)) + [1] * len(r) for r in own])
    cache = {"cache": prefix.for_batch(len(rows))} if prefix is not None else {}
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=pad, **cache)
    new = out[:, input_ids.shape[1]:]
    answers, produced = [], 0
    for row in new:
        keep = row[row != tokenizer.pad_token_id] if tokenizer.pad_token_id is not None else row
        produced += int(keep.numel())
        # a cut in the middle of a multi-byte character decodes to U+FFFD: drop that tail, it is not noise
        answers.append(tokenizer.decode(row, skip_special_tokens=True).rstrip("\ufffd").strip())
    return answers, produced


def generate(request: dict[str, Any], in_dir: Path, out_dir: Path, progress: Progress) -> dict[str, Any]:
    """Load the GGUF model and answer every prompt of the request; return answers and timings."""
    prompts = [str(p) for p in request["prompts"]]
    if len(prompts) > MAX_PROMPTS:
        raise ValueError(f"at most {MAX_PROMPTS} prompts a call; got {len(prompts)}")
    max_new = int(request.get("max_new_tokens", 64))
    if not 1 <= max_new <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must lie in 1..{MAX_NEW_TOKENS}; got {max_new}")
    batch_size = max(1, min(MAX_BATCH, int(request.get("batch_size", 64))))
    import torch

    # one thread by default: on a shared machine OpenMP's spinning threads made decoding 10x slower (RESULTS.md)
    torch.set_num_threads(max(1, int(request.get("threads") or 1)))
    started = time.perf_counter()
    progress(1, "loading the model")
    tokenizer, model = load(in_dir / "model.gguf")
    loaded, cpu_loaded = time.perf_counter(), time.process_time()
    rows = encode(tokenizer, prompts) if prompts else []
    prefix = SharedPrefix.of(model, rows) if rows else None
    # similar lengths in tokens in one batch waste less padding; answers go back in the request's order
    answers: list[str] = [""] * len(prompts)
    tokens, timings, done_n = 0, [], 0
    for chunk in batches([len(r) for r in rows], batch_size):
        begun = time.perf_counter(), time.process_time()
        out, produced = answer_ids(tokenizer, model, [rows[i] for i in chunk], max_new_tokens=max_new,
                                   seed=int(request.get("seed", 0)), prefix=prefix)
        tokens += produced
        timings.append({"prompts": len(chunk), "width": max(len(rows[i]) for i in chunk), "new_tokens": produced,
                        "s": round(time.perf_counter() - begun[0], 2), "cpu_s": round(time.process_time() - begun[1], 2)})
        for i, text in zip(chunk, out, strict=True):
            answers[i] = text
        done_n += len(chunk)
        progress(5 + 95 * done_n / len(prompts), f"generated {done_n} of {len(prompts)} answers")
    done = time.perf_counter()
    # CPU seconds as well as wall-clock ones: on a shared machine the wall clock measures the neighbours too
    return {"answers": answers, "load_s": round(loaded - started, 3), "generate_s": round(done - loaded, 3),
            "generate_cpu_s": round(time.process_time() - cpu_loaded, 3), "new_tokens": tokens,
            "batches": timings, "model": request.get("model_name", "")}
