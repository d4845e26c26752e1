"""Shared short-lived state: rate counters, the idempotency cache and idempotency locks.

In Redis when it is configured, so that every worker sees the same counters and locks; in this
process otherwise, and also while Redis is unreachable: a lost Redis degrades rate limits and
locks to one worker's view (``/readyz`` and the metrics say so) instead of failing requests.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar.stores.memory import MemoryStore
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

__all__ = ["LockTimeout", "SharedState", "redis_client"]

log = logging.getLogger("api")

REDIS_DOWN_SECONDS = 2.0  # after a failure, use the in-process fallback this long before trying Redis again
LOCK_POLL_SECONDS = 0.05
SWEEP_SECONDS = 30.0
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LockTimeout(Exception):
    """Another request held the lock for longer than the caller would wait."""


def redis_client(url: str, *, socket_timeout: float | None = 2.0) -> Redis:
    """A client that fails fast when Redis is down and reconnects at once when it is back.

    ``socket_timeout=None`` is for a client that blocks on Redis on purpose (a worker waiting for tasks).
    """
    return Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),  # one immediate reconnect: stale pooled connections recover at once
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=15,
    )


class SharedState:
    """Counters, cached values and locks, with Redis as the shared home and this process as the fallback."""

    def __init__(self, redis_url: str | None, prefix: str, on_fallback: Callable[[str], None] | None = None) -> None:
        self.redis = redis_client(redis_url) if redis_url else None
        self.prefix = prefix
        self.memory = MemoryStore()
        self.on_fallback = on_fallback or (lambda _operation: None)
        self._memory_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._down_until = 0.0
        self._swept_at = time.monotonic()
        self.last_error: str | None = None

    @property
    def degraded(self) -> str | None:
        """Why the shared state is in-process only just now (``None`` when Redis answers, or is not configured)."""
        if self.redis is None or time.monotonic() >= self._down_until:
            return None
        return self.last_error

    def _use_redis(self, operation: str) -> bool:
        """Whether to try Redis now; an operation skipped while Redis is down is counted as a fallback."""
        if self.redis is None:
            return False
        if time.monotonic() < self._down_until:
            self.on_fallback(operation)
            return False
        return True

    def _failed(self, operation: str, exc: Exception) -> None:
        """Serve this operation in process; a lost connection also skips Redis for a short while."""
        self.on_fallback(operation)
        if not isinstance(exc, RedisConnectionError | RedisTimeoutError):  # Redis answered, with an error
            log.warning("redis %s failed (%s: %s); served in process", operation, type(exc).__name__, exc)
            return
        first = self.degraded is None
        self._down_until = time.monotonic() + REDIS_DOWN_SECONDS
        self.last_error = f"redis unavailable ({type(exc).__name__})"
        if first:
            log.warning("redis unavailable (%s: %s); using in-process state", type(exc).__name__, exc)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def get(self, key: str) -> bytes | None:
        """Return a cached value, or ``None`` (also when Redis cannot be reached)."""
        if self._use_redis("get"):
            try:
                return await self.redis.get(self._key(key))  # type: ignore[union-attr]
            except RedisError as exc:
                self._failed("get", exc)
        return await self.memory.get(key)

    async def set(self, key: str, value: bytes, expires_in: int) -> None:
        """Cache a value for ``expires_in`` seconds (in this process while Redis is down)."""
        if self._use_redis("set"):
            try:
                await self.redis.set(self._key(key), value, ex=expires_in)  # type: ignore[union-attr]
                return
            except RedisError as exc:
                self._failed("set", exc)
        await self._sweep()
        await self.memory.set(key, value, expires_in=expires_in)

    async def delete(self, key: str) -> None:
        """Forget a cached value everywhere it may be."""
        await self.memory.delete(key)
        if self._use_redis("delete"):
            try:
                await self.redis.delete(self._key(key))  # type: ignore[union-attr]
            except RedisError as exc:
                self._failed("delete", exc)

    async def count(self, key: str, window_seconds: int) -> int:
        """Add one to a counter that lives ``window_seconds`` and return it (atomic; any Redis version)."""
        if self._use_redis("count"):
            try:
                name = self._key(key)
                async with self.redis.pipeline(transaction=True) as pipe:  # type: ignore[union-attr]
                    _, count = await pipe.set(name, 0, ex=window_seconds + 1, nx=True).incr(name).execute()
                return int(count)
            except RedisError as exc:
                self._failed("count", exc)
        async with self._memory_lock:
            await self._sweep()
            count = int(await self.memory.get(key) or b"0") + 1
            await self.memory.set(key, str(count).encode(), expires_in=window_seconds + 1)
        return count

    async def peek(self, key: str) -> int:
        """A counter's value without adding to it (0 when absent)."""
        if self._use_redis("peek"):
            try:
                return int(await self.redis.get(self._key(key)) or 0)  # type: ignore[union-attr]
            except RedisError as exc:
                self._failed("peek", exc)
        return int(await self.memory.get(key) or b"0")

    async def _sweep(self) -> None:
        """Drop expired in-process entries now and then (the memory store only drops one when it is read)."""
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = now
            await self.memory.delete_expired()

    async def ping(self) -> str:
        """``ok``, or what is wrong (for ``/readyz``)."""
        if self.redis is None:
            return "ok"
        try:
            await self.redis.ping()
        except RedisError as exc:
            self._failed("ping", exc)
            return f"degraded: {self.last_error}; rate limits and idempotency locks are per process"
        self._down_until = 0.0
        return "ok"

    @asynccontextmanager
    async def lock(self, key: str, *, hold_seconds: int, wait_seconds: float) -> AsyncIterator[None]:
        """Hold a lock on ``key`` across requests (and across workers while Redis answers).

        Waits at most ``wait_seconds`` for another holder, then raises :class:`LockTimeout`; a Redis lock
        expires after ``hold_seconds`` if its holder dies.
        """
        local = self._locks.setdefault(key, asyncio.Lock())
        try:
            await asyncio.wait_for(local.acquire(), wait_seconds)
        except TimeoutError as exc:
            raise LockTimeout(key) from exc
        token = secrets.token_hex(8)
        held_in_redis = False
        try:
            held_in_redis = await self._acquire_shared(key, token, hold_seconds, wait_seconds)
            yield
        finally:
            if held_in_redis:
                try:
                    await self.redis.eval(_RELEASE, 1, self._key(f"lock:{key}"), token)  # type: ignore[union-attr]
                except RedisError as exc:
                    self._failed("unlock", exc)
            local.release()
            if not local.locked() and not getattr(local, "_waiters", None):
                self._locks.pop(key, None)

    async def _acquire_shared(self, key: str, token: str, hold_seconds: int, wait_seconds: float) -> bool:
        deadline = time.monotonic() + wait_seconds
        while self._use_redis("lock"):
            try:
                if await self.redis.set(self._key(f"lock:{key}"), token, nx=True, ex=hold_seconds):  # type: ignore[union-attr]
                    return True
            except RedisError as exc:
                self._failed("lock", exc)
                return False
            if time.monotonic() >= deadline:
                raise LockTimeout(key)
            await asyncio.sleep(LOCK_POLL_SECONDS)
        return False

    async def close(self) -> None:
        """Close the Redis connections."""
        if self.redis is not None:
            await self.redis.aclose()
