"""Encoding across callers: the texts of concurrent requests go to the model together.

Each caller's :meth:`BatchingEncoder.encode` queues its texts and waits; one encoder thread takes
the oldest request and, while other callers are already waiting inside ``encode``, gathers theirs
too, up to ``max_texts`` texts or ``max_wait`` seconds, then encodes the distinct texts of the
whole batch in one call and hands each caller its rows. A lone caller is encoded at once (no
waiting when nobody else is), so one request pays nothing for the batching, and many requests
share the model's batch efficiency instead of queueing for its lock one by one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from screening.encoder import Embeddings, Encoder, EncoderWrapper

__all__ = ["BatchingEncoder"]


@dataclass(eq=False)
class _Request:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: Embeddings | None = None
    error: BaseException | None = None


class BatchingEncoder(EncoderWrapper):
    """An encoder that batches the texts of concurrent callers (thread-safe; one encoder thread)."""

    def __init__(self, inner: Encoder, *, max_texts: int = 256, max_wait: float = 0.005) -> None:
        super().__init__(inner)
        self.max_texts = max_texts
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._pending = 0  # requests queued and not yet taken into a batch
        self._count_lock = threading.Lock()
        self._closed = False
        self.batches = 0  # model calls made (for tests and metrics)
        self._thread = threading.Thread(target=self._run, name="encoder-batching", daemon=True)
        self._thread.start()

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """The embeddings of ``texts``, encoded with whatever other callers asked for meanwhile."""
        if not texts:
            return self.inner.encode([])
        if self._closed:
            raise RuntimeError("the batching encoder is closed")
        request = _Request(list(texts))
        with self._count_lock:
            self._pending += 1
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def close(self) -> None:
        """Stop the encoder thread once the queued requests are done."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _take(self, timeout: float | None = None) -> _Request | None:
        request = self._queue.get(timeout=timeout)
        if request is not None:
            with self._count_lock:
                self._pending -= 1
        return request

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` and the requests of callers already waiting (bounded); whether to stop after them."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_texts:
            with self._count_lock:
                others_waiting = self._pending > 0
            if not others_waiting:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                nxt = self._take(remaining)
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
            size += len(nxt.texts)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._take()
            if first is None:
                return
            batch, stop = self._gather(first)
            distinct = list(dict.fromkeys(t for r in batch for t in r.texts))
            try:
                vectors = self.inner.encode(distinct)
                self.batches += 1
                row = {text: i for i, text in enumerate(distinct)}
                for request in batch:
                    request.result = np.ascontiguousarray(vectors[[row[t] for t in request.texts]])
            except BaseException as exc:  # every waiting caller gets the failure, none hangs
                for request in batch:
                    request.error = exc
            finally:
                for request in batch:
                    request.done.set()
