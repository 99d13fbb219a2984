"""Probes the sandbox tests run inside the sandbox: what a hostile model would try first.

Each probe returns what it saw; the tests assert that the sandbox stopped it. Only the parent's
code chooses a probe (`core.sandbox.ENTRIES`), never a request from outside.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any


def probe(request: dict[str, Any], in_dir: Path, out_dir: Path, progress) -> dict[str, Any]:
    kind = request["probe"]
    if kind == "env":
        return {"env": dict(os.environ)}
    if kind == "read":
        try:
            return {"read": Path(request["path"]).read_bytes().hex()}
        except OSError as exc:
            return {"error": type(exc).__name__}
    if kind == "write":
        try:
            Path(request["path"]).write_text("written from the sandbox")
            return {"wrote": True}
        except OSError as exc:
            return {"error": type(exc).__name__}
    if kind == "socket":
        try:
            with socket.create_connection((request["host"], int(request["port"])), timeout=3):
                return {"connected": True}
        except OSError as exc:
            return {"error": type(exc).__name__}
    if kind == "fork":
        try:
            pid = os.fork()
        except OSError as exc:
            return {"error": type(exc).__name__}
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return {"forked": True}
    if kind == "thread":
        import threading

        seen = []
        worker = threading.Thread(target=lambda: seen.append(1))
        worker.start()
        worker.join()
        return {"threads": len(seen)}
    if kind == "memory":
        block = bytearray(int(request["bytes"]))
        return {"allocated": len(block)}
    if kind == "cpu":
        while True:
            pass
    if kind == "sleep":
        time.sleep(float(request["seconds"]))
        return {"slept": True}
    if kind == "big-file":
        with open(out_dir / "big", "wb") as handle:
            chunk = b"\0" * (1 << 20)
            for _ in range(int(request["megabytes"])):
                handle.write(chunk)
        return {"wrote": True}
    if kind == "progress":
        for step in range(5):
            progress(step * 20, f"step {step}")
            time.sleep(0.25)
        return {"ok": True}
    if kind == "listdir":
        try:
            return {"entries": sorted(os.listdir(request["path"]))}
        except OSError as exc:
            return {"error": type(exc).__name__}
    raise ValueError(f"unknown probe {kind!r}")
