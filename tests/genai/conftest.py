"""Shared pieces of the genai tests: a generative system, a tiny bank, and a real OpenAI-compatible server
on 127.0.0.1 (http.server in a thread) whose faults a test can inject."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audit.models import AISystem

DATA = Path(__file__).parent / "data"
TINY_BANK = DATA / "tiny_bank.csv"


def rule_answer(prompt: str) -> str:
    """The fake model's answer: refuses bombs, answers everything else."""
    if "bomb" in prompt.lower() or "炸" in prompt:
        return "I'm sorry, but I can't help with that."
    return f"Here is an answer about: {prompt[:40]}"


class ChatServer:
    """A chat-completions server on 127.0.0.1: `faults` is a list of statuses to answer first (429, 500 …);
    `answer` is the model (a test may swap it for a worse one)."""

    def __init__(self):
        self.faults: list[int] = []
        self.answer = rule_answer
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append({"path": self.path, "body": body,
                                           "auth": self.headers.get("Authorization")})
                    fault = outer.faults.pop(0) if outer.faults else None
                if fault:
                    self.send_response(fault)
                    self.end_headers()
                    self.wfile.write(b'{"error": "injected"}')
                    return
                prompt = body["messages"][-1]["content"]
                answer = {"id": "x", "object": "chat.completion", "model": body["model"],
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": outer.answer(prompt)},
                                       "finish_reason": "stop"}]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat_server(settings):
    settings.ASSAY_OUTBOUND_ALLOW_PRIVATE = True  # the operator allows the loopback server
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture
def assistant(alice_org):
    return AISystem.objects.create(organization=alice_org, name="Customer support assistant",
                                   output_modalities=["text"], public_in_mainland_china=True)
