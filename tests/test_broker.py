"""The embedded filesystem broker hands out jobs first in, first out (core/broker.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import broker

ROOT = Path(__file__).resolve().parent.parent


# Runs in a fresh interpreter, in the test's own folder: the transport's class-level and module state
# (and a working directory some earlier test may have left) cannot leak in from the rest of the suite.
DELIVERY = """
import json, sys
from pathlib import Path
from kombu import Connection, Exchange, Producer, Queue

folder = Path(sys.argv[1])
messages, processed, control = folder / "messages", folder / "processed", folder / "control"
for sub in (messages, processed, control):
    sub.mkdir(exist_ok=True)
with Connection(transport="core.broker:Transport", transport_options={
        "data_folder_in": str(messages), "data_folder_out": str(messages), "store_processed": True,
        "processed_folder": str(processed), "control_folder": str(control)}) as conn:
    channel = conn.channel()
    queue = Queue("cpu", Exchange("cpu", type="direct"), routing_key="cpu")(channel)
    queue.declare()
    producer = Producer(channel, exchange=queue.exchange, routing_key="cpu")
    for n in range(int(sys.argv[2])):
        producer.publish({"job": n})
    received = []
    for _ in range(int(sys.argv[2])):
        message = queue.get(no_ack=True)  # basic_get: the transport's own read, no consumer polling
        received.append(None if message is None else message.payload["job"])
    channel.close()
print(json.dumps(received))
"""


def test_it_delivers_more_than_ten_messages_in_the_order_they_were_sent(tmp_path):
    # given: 25 jobs published one after another to the "cpu" queue; when: a worker takes them
    out = subprocess.run([sys.executable, "-c", DELIVERY, str(tmp_path), "25"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]

    # then: first in, first out
    assert json.loads(out.stdout) == list(range(25))


def test_its_message_names_sort_as_text_in_the_order_they_were_made():
    names = [broker.message_filename("cpu") for _ in range(1000)]
    assert sorted(names) == names
    assert len({len(n) for n in names}) == 1  # a fixed-width prefix: no name gains a digit


def test_the_celery_app_uses_it_for_the_embedded_broker(settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip(f"the broker is {settings.CELERY_BROKER_URL.split(':')[0]}, not the embedded one")
    from assay.celery import app

    with app.connection_for_write() as conn:
        assert conn.transport_cls == "core.broker:Transport" or conn.transport.__class__ is broker.Transport
