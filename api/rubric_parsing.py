"""Parse rubric TOML in a child process with a time budget, so no rubric can stall the server.

Every parse of organisation TOML goes through here: uploads and validations, and stored uploads read
back after a restart. The engine refuses slow shapes first (``screening.toml_limits``, linear); the
child process is the second line: parsing holds nothing the event loop needs, and a parse that runs past
its budget is killed (the pool is replaced) and answered 422. Waiting for the child counts against the
same budget, and at most ``MAX_WAITING`` requests queue; more get 503. Parsed rubrics are memoised by
the hash of their text.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time
from collections import OrderedDict
from multiprocessing.pool import Pool

import anyio.to_thread

from api.domain import Unavailable
from screening.errors import InvalidRubric, Problem
from screening.rubric import Rubric, parse_rubric

__all__ = ["RubricParser"]

MAX_WAITING = 4
MEMO_SIZE = 256
_Outcome = tuple[Rubric | None, tuple[Problem, ...]]


def _parse_in_child(toml: str) -> _Outcome:
    """Runs in the child: a rubric, or its problems (exceptions with custom arguments do not pickle)."""
    try:
        return parse_rubric(toml, source="upload"), ()
    except InvalidRubric as exc:
        return None, tuple(exc.problems)
    except Exception as exc:  # any parser failure is the file's problem, never a 500
        return None, (Problem(location="toml", message=f"could not be parsed ({type(exc).__name__})"),)


class RubricParser:
    """One warm child process per app; one parse at a time, each (queueing included) within ``budget_seconds``."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget_seconds = budget_seconds
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self._waiting = 0
        self._memo: OrderedDict[str, Rubric] = OrderedDict()

    def _busy(self) -> Unavailable:
        return Unavailable(
            "Rubric parsing is busy; retry shortly.", headers={"Retry-After": str(max(1, int(self.budget_seconds)))}
        )

    def _parse_blocking(self, toml: str) -> _Outcome:
        deadline = time.monotonic() + self.budget_seconds
        if not self._lock.acquire(timeout=self.budget_seconds):
            raise self._busy()
        try:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(1)
            pending = self._pool.apply_async(_parse_in_child, (toml,))
            try:
                return pending.get(max(0.1, deadline - time.monotonic()))
            except multiprocessing.TimeoutError:
                self._pool.terminate()
                self._pool = None
                message = f"parsing took longer than {self.budget_seconds:g} s; simplify the file"
                return None, (Problem(location="toml", message=message),)
            except Exception as exc:  # the child died or could not send its answer back
                self._pool.terminate()
                self._pool = None
                return None, (Problem(location="toml", message=f"could not be parsed ({type(exc).__name__})"),)
        finally:
            self._lock.release()

    async def parse(self, toml: str) -> Rubric:
        """Parse and validate off the event loop; :class:`InvalidRubric` lists every problem."""
        key = hashlib.sha256(toml.encode("utf-8", errors="surrogatepass")).hexdigest()
        if (known := self._memo.get(key)) is not None:
            self._memo.move_to_end(key)
            return known
        if self._waiting >= MAX_WAITING:
            raise self._busy()
        self._waiting += 1
        try:
            rubric, problems = await anyio.to_thread.run_sync(self._parse_blocking, toml, abandon_on_cancel=True)
        finally:
            self._waiting -= 1
        if rubric is None:
            raise InvalidRubric("upload", list(problems))
        self._memo[key] = rubric
        if len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return rubric

    def close(self) -> None:
        """Stop the child process (without waiting for queued parses)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
