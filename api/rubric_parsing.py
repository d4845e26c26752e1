"""Parse uploaded rubric TOML in a child process with a time budget, so no upload can stall the server.

The engine already refuses shapes that make the parser slow (``screening.toml_limits``); the child process
is the second line: parsing and validation hold no lock the event loop needs, and a parse that runs past
its budget is killed (the pool is replaced) and answered 422.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.pool import Pool

import anyio.to_thread

from screening.errors import InvalidRubric, Problem
from screening.rubric import Rubric, parse_rubric

__all__ = ["RubricParser"]

_Outcome = tuple[Rubric | None, tuple[Problem, ...]]


def _parse_in_child(toml: str) -> _Outcome:
    """Runs in the child: a rubric, or its problems (exceptions with custom arguments do not pickle)."""
    try:
        return parse_rubric(toml, source="upload"), ()
    except InvalidRubric as exc:
        return None, tuple(exc.problems)


class RubricParser:
    """One warm child process per app; one parse at a time, each within ``budget_seconds``."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget_seconds = budget_seconds
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def _parse_blocking(self, toml: str) -> _Outcome:
        with self._lock:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(1)
            pending = self._pool.apply_async(_parse_in_child, (toml,))
            try:
                return pending.get(self.budget_seconds)
            except multiprocessing.TimeoutError:
                self._pool.terminate()
                self._pool = None
                message = f"parsing took longer than {self.budget_seconds:g} s; simplify the file"
                return None, (Problem(location="toml", message=message),)

    async def parse(self, toml: str) -> Rubric:
        """Parse and validate off the event loop; :class:`InvalidRubric` lists every problem."""
        rubric, problems = await anyio.to_thread.run_sync(self._parse_blocking, toml)
        if rubric is None:
            raise InvalidRubric("upload", list(problems))
        return rubric

    def close(self) -> None:
        """Stop the child process."""
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
