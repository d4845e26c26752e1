"""The scorer's prepared rubrics: a bounded LRU, prepared once across threads (real model and spaCy)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import screening.scorer as scorer_module
from screening.rubric import Rubric, parse_rubric, rubric_fingerprint
from screening.scorer import PREPARED_RUBRICS_KEPT, Scorer


@pytest.fixture
def small_scorer(scorer) -> Scorer:
    """A scorer sharing the session's model and text pipeline that keeps two prepared rubrics."""
    return Scorer(
        scorer.encoder,
        scorer.analyzer,
        reference_encoder=scorer.reference_encoder,
        method=scorer.method,
        prepared_capacity=2,
    )


@pytest.fixture
def versions(make_rubric_dict, render_toml) -> Callable[..., list[Rubric]]:
    """Versions of the small rubric: same texts (cheap to prepare), different fingerprints."""

    def build(*numbers: str) -> list[Rubric]:
        return [parse_rubric(render_toml({**make_rubric_dict(), "version": n})) for n in numbers]

    return build


@pytest.fixture
def prepare_calls(monkeypatch) -> list[str]:
    """The rubric versions actually prepared (the real ``prepare_rubric`` still does the work)."""
    calls: list[str] = []
    real = scorer_module.prepare_rubric

    def spy(rubric: Rubric, *args):
        calls.append(rubric.version)
        return real(rubric, *args)

    monkeypatch.setattr(scorer_module, "prepare_rubric", spy)
    return calls


def test_the_default_scorer_keeps_a_bounded_number(scorer) -> None:
    assert scorer._prepared.capacity == PREPARED_RUBRICS_KEPT


def test_the_least_recently_used_rubric_is_evicted(small_scorer, versions, prepare_calls) -> None:
    a, b, c = versions("1.0.0", "1.0.1", "1.0.2")
    first_a, first_b = small_scorer.prepare(a), small_scorer.prepare(b)
    assert small_scorer.prepare(a) is first_a  # a hit, and now the most recently used
    assert small_scorer.prepared_fingerprints() == [rubric_fingerprint(b), rubric_fingerprint(a)]
    small_scorer.prepare(c)  # evicts b, the least recently used
    assert small_scorer.prepared_fingerprints() == [rubric_fingerprint(a), rubric_fingerprint(c)]
    assert small_scorer.prepare(a) is first_a
    again_b = small_scorer.prepare(b)  # prepared anew, evicting c
    assert again_b is not first_b and again_b.fingerprint == first_b.fingerprint
    assert small_scorer.prepared_fingerprints() == [rubric_fingerprint(a), rubric_fingerprint(b)]
    assert prepare_calls == ["1.0.0", "1.0.1", "1.0.2", "1.0.1"]
    small_scorer.forget(a)
    assert small_scorer.prepared_fingerprints() == [rubric_fingerprint(b)]


def test_concurrent_prepares_of_one_rubric_prepare_it_once(small_scorer, versions, prepare_calls) -> None:
    (rubric,) = versions("3.0.0")
    start = threading.Barrier(8)
    results: list[object] = []

    def prepare() -> None:
        start.wait()
        results.append(small_scorer.prepare(rubric))

    threads = [threading.Thread(target=prepare) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 8
    assert all(r is results[0] for r in results)
    assert prepare_calls == ["3.0.0"]


def test_a_slow_prepare_does_not_block_a_hit_on_another_rubric(small_scorer, versions, monkeypatch) -> None:
    slow, cached = versions("4.0.0", "4.0.1")
    held = small_scorer.prepare(cached)
    started, release = threading.Event(), threading.Event()
    real = scorer_module.prepare_rubric

    def held_back(rubric: Rubric, *args):
        if rubric.version == slow.version:
            started.set()
            release.wait(timeout=60)
        return real(rubric, *args)

    monkeypatch.setattr(scorer_module, "prepare_rubric", held_back)
    worker = threading.Thread(target=small_scorer.prepare, args=(slow,))
    worker.start()
    try:
        assert started.wait(timeout=60)
        assert small_scorer.prepare(cached) is held  # answered while the slow one is still preparing
        assert worker.is_alive()
    finally:
        release.set()
        worker.join(timeout=120)
    assert small_scorer.prepared_fingerprints() == [rubric_fingerprint(cached), rubric_fingerprint(slow)]
