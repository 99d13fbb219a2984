"""The embedded filesystem broker hands out jobs first in, first out (core/broker.py)."""

from kombu import Connection

from core import broker


def _connection(folder) -> Connection:
    # Every folder is the test's own: kombu's defaults are relative ("control" for the exchange tables,
    # read from the working directory on each send) or shared (tempfile.gettempdir() for processed messages).
    messages, processed, control = folder / "messages", folder / "processed", folder / "control"
    for sub in (messages, processed, control):
        sub.mkdir(exist_ok=True)
    return Connection(transport="core.broker:Transport", transport_options={
        "data_folder_in": str(messages), "data_folder_out": str(messages), "store_processed": True,
        "processed_folder": str(processed), "control_folder": str(control)})


def test_it_delivers_more_than_ten_messages_in_the_order_they_were_sent(tmp_path):
    # given: 25 jobs submitted one after another
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("cpu")
        for n in range(25):
            queue.put({"job": n})

        # when: a worker takes them
        received = []
        for _ in range(25):
            message = queue.get(timeout=10)  # the transport polls; a loaded CI machine needs more than a second
            received.append(message.payload["job"])
            message.ack()
        queue.close()

    # then: first in, first out
    assert received == list(range(25))


def test_its_message_names_sort_as_text_in_the_order_they_were_made():
    names = [broker.message_filename("cpu") for _ in range(1000)]
    assert sorted(names) == names
    assert len({len(n) for n in names}) == 1  # a fixed-width prefix: no name gains a digit


def test_the_celery_app_uses_it_for_the_embedded_broker():
    from assay.celery import app

    with app.connection_for_write() as conn:
        assert conn.transport_cls == "core.broker:Transport" or conn.transport.__class__ is broker.Transport
