"""The embedded broker: kombu's filesystem transport, with message files that sort in the order they were sent.

kombu names a message file `<milliseconds since boot>_<uuid4>.<queue>.msg` and a consumer takes the first name in
text order, so message 1000000 sorts before 999999 (jobs 6 and 7 ran after 8 to 11 once the counter gained a
digit), and two messages of the same millisecond come out in random order. Here the prefix is the wall-clock time
in nanoseconds, zero-padded to a fixed width, then a per-process sequence number: text order is sending order
(across processes as far as their clocks agree).
"""

import itertools
import os
import threading
import time
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

_sequence = itertools.count()
_sequence_lock = threading.Lock()


def message_filename(queue: str) -> str:
    """Return the file name of the next message on `queue`; names sort as text in the order they were made."""
    with _sequence_lock:
        number = next(_sequence)
    return f"{time.time_ns():020d}_{number:012d}_{uuid.uuid4().hex}.{queue}.msg"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue` under a name that sorts after every message sent before it."""
        path = os.path.join(self.data_folder_out, message_filename(queue))
        # Written under a temporary name first: a consumer never picks up a half-written message.
        partial = path + ".part"
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
