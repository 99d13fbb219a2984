"""What runs inside the model sandbox (`core.sandbox`, entry "genai.generate"): a GGUF chat model
answering prompts with greedy decoding. No Django.

The model file arrives as the input `model.gguf`; transformers + gguf dequantise it to float32 (the
tokenizer and chat template come from the same file). Decoding is greedy, seeded, batched with left
padding, and bounded by `max_new_tokens`, so the same prompts give the same answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 512
MAX_PROMPTS = 20_000
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


def answer(tokenizer, model, prompts: list[str], *, max_new_tokens: int, seed: int = 0) -> tuple[list[str], int]:
    """Return the greedy answers to `prompts` (one batch) and the number of new tokens generated."""
    import torch

    torch.manual_seed(seed)
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    new = out[:, batch["input_ids"].shape[1]:]
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
    batch_size = max(1, min(64, int(request.get("batch_size", 32))))
    import torch

    # one thread by default: on a shared machine OpenMP's spinning threads made decoding 10x slower (RESULTS.md)
    torch.set_num_threads(max(1, int(request.get("threads") or 1)))
    started = time.perf_counter()
    progress(1, "loading the model")
    tokenizer, model = load(in_dir / "model.gguf")
    loaded = time.perf_counter()
    # similar lengths in one batch waste less padding; answers go back in the request's order
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    answers: list[str] = [""] * len(prompts)
    tokens = 0
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        out, produced = answer(tokenizer, model, [prompts[i] for i in chunk], max_new_tokens=max_new,
                               seed=int(request.get("seed", 0)))
        tokens += produced
        for i, text in zip(chunk, out, strict=True):
            answers[i] = text
        progress(5 + 95 * min(len(order), start + batch_size) / max(1, len(order)),
                 f"generated {min(len(order), start + batch_size)} of {len(order)} answers")
    done = time.perf_counter()
    return {"answers": answers, "load_s": round(loaded - started, 3), "generate_s": round(done - loaded, 3),
            "new_tokens": tokens, "model": request.get("model_name", "")}
