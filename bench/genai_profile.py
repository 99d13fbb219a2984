"""Where the local model's time goes (issue 16), and what each speed-up of genai/sandboxed.py buys.

    .venv/bin/python bench/genai_profile.py [--per-kind 100] [--ab-prompts 64] [--new-tokens 24]

In this process (not the sandbox: the same code, timed step by step), SmolLM2-135M-Instruct on one
Torch thread, the 300 prompts of bench/genai_bench.py:
1. load time; prompt lengths in tokens; the shared head of the chat template;
2. padding in the prompt pass with batches of 32 sorted by characters (before) and by tokens (now);
3. one batch of 32: the prompt pass alone, and the whole generation of 64 tokens (the rest is decoding);
4. A/B on `--ab-prompts` prompts × `--new-tokens`: batches of 32 without the shared prefix (before),
   with it, and batches of 64 with it (now); the answers of each must equal the first's token for token.
Prints JSON lines, the load average with each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def say(**facts) -> None:
    print(json.dumps({**facts, "load_average": [round(x, 2) for x in os.getloadavg()]}), flush=True)


def padding(rows: list[list[int]], order: list[int], size: int) -> dict:
    pads = total = 0
    for start in range(0, len(order), size):
        lengths = [len(rows[i]) for i in order[start:start + size]]
        pads += max(lengths) * len(lengths) - sum(lengths)
        total += max(lengths) * len(lengths)
    return {"padding_tokens": pads, "prompt_pass_tokens": total, "share": round(pads / total, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--ab-prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=24)
    args = parser.parse_args()
    import genai_bench

    genai_bench._setup()
    import torch

    from genai import generation, sandboxed

    torch.set_num_threads(1)
    started = time.perf_counter()
    tokenizer, model = sandboxed.load(generation.smollm2_path())
    say(step="load", seconds=round(time.perf_counter() - started, 1))
    cases, _ = genai_bench._prompts(args.per_kind)
    prompts = [c["prompt"] for c in cases]
    rows = sandboxed.encode(tokenizer, prompts)
    lengths = sorted(len(r) for r in rows)
    prefix = sandboxed.SharedPrefix.of(model, rows)
    say(step="prompts", n=len(rows), tokens=sum(lengths), min=lengths[0], median=lengths[len(lengths) // 2],
        max=lengths[-1], shared_prefix_tokens=len(prefix.ids))
    by_chars = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    by_tokens = sorted(range(len(prompts)), key=lambda i: (len(rows[i]), i))
    say(step="padding, batches of 32", sorted_by_characters=padding(rows, by_chars, 32),
        sorted_by_tokens=padding(rows, by_tokens, 32))

    middle = by_tokens[len(by_tokens) // 2 - 16:len(by_tokens) // 2 + 16]
    batch = tokenizer.pad({"input_ids": [rows[i] for i in middle]}, return_tensors="pt")
    with torch.inference_mode():
        started = time.process_time()
        model(**batch, use_cache=True, logits_to_keep=1)
        prompt_pass = time.process_time() - started
        started = time.process_time()
        model.generate(**batch, max_new_tokens=64, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        whole = time.process_time() - started
    say(step="one batch of 32 x 64 new tokens (CPU seconds)", width=batch["input_ids"].shape[1],
        prompt_pass_cpu_s=round(prompt_pass, 2), generate_cpu_s=round(whole, 2),
        decode_cpu_s_per_step=round((whole - prompt_pass) / 63, 3))

    chosen = by_tokens[(len(by_tokens) - args.ab_prompts) // 2:][:args.ab_prompts]
    first = None
    for name, size, shared in (("batches of 32, no shared prefix", 32, None),
                               ("batches of 32, shared prefix", 32, prefix),
                               ("batches of 64, shared prefix", 64, prefix)):
        started, cpu, answers = time.perf_counter(), time.process_time(), []
        for start in range(0, len(chosen), size):
            out, _ = sandboxed.answer_ids(tokenizer, model, [rows[i] for i in chosen[start:start + size]],
                                          max_new_tokens=args.new_tokens, prefix=shared)
            answers += out
        first = first or answers
        say(step="A/B", variant=name, prompts=len(chosen), new_tokens=args.new_tokens,
            seconds=round(time.perf_counter() - started, 1), cpu_s=round(time.process_time() - cpu, 1),
            same_answers=answers == first)


if __name__ == "__main__":
    main()
