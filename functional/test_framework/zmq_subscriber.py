"""ZMQ SUB client for bitcoind-style notifications (python3-zmq from Debian).

Debian installs pyzmq for /usr/bin/python3 only; when the tests run under
another CPython of the same minor version, its dist-packages are borrowed.
"""

import struct
import sys
import time


def import_zmq():
    try:
        import zmq
        return zmq
    except ImportError:
        pass
    debian = "/usr/lib/python3/dist-packages"
    if debian not in sys.path:
        sys.path.append(debian)
        try:
            import zmq
            return zmq
        except ImportError:
            sys.path.remove(debian)
    raise ImportError("python3-zmq is missing: run functional/install-deps.sh")


class Notification:
    def __init__(self, topic, body, sequence):
        self.topic = topic
        self.body = body
        self.sequence = sequence

    def hash_hex(self):
        """For hash topics and `sequence`: the 32-byte hash as display hex."""
        return self.body[:32].hex()

    def label(self):
        """`sequence` topic: 'C', 'D', 'A' or 'R'."""
        return chr(self.body[32])

    def mempool_sequence(self):
        """`sequence` topic, labels A/R: the mempool sequence number."""
        return struct.unpack("<Q", self.body[33:41])[0]

    def __repr__(self):
        return f"Notification({self.topic}, {len(self.body)} bytes, seq={self.sequence})"


class ZmqSubscriber:
    """Subscribes to `topics` at `address`; receive() returns Notification objects."""

    def __init__(self, address, topics):
        zmq = import_zmq()
        self._zmq = zmq
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.socket.connect(address)

    def receive(self, timeout=30):
        if not self.socket.poll(int(timeout * 1000)):
            raise TimeoutError(f"no ZMQ notification within {timeout}s")
        topic, body, seq = self.socket.recv_multipart()
        if len(seq) != 4:
            raise AssertionError(f"sequence frame must be 4 bytes, got {len(seq)}")
        return Notification(topic.decode(), body, struct.unpack("<I", seq)[0])

    def receive_until(self, predicate, timeout=30):
        """Collects notifications until one satisfies `predicate`; returns them all."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"ZMQ condition not met within {timeout}s; saw {seen}")
            n = self.receive(remaining)
            seen.append(n)
            if predicate(n):
                return seen

    def drain(self, quiet=0.3):
        """Discards everything until no notification arrives for `quiet` seconds."""
        drained = []
        while self.socket.poll(int(quiet * 1000)):
            topic, body, seq = self.socket.recv_multipart()
            drained.append(Notification(topic.decode(), body, struct.unpack("<I", seq)[0]))
        return drained

    def close(self):
        self.socket.close(0)
        self.context.term()
