"""Shared fixtures for the engine suite: ONE real scorer per session, the default rubric,
a helper that scores one answer, and a builder for small rubric TOML texts.

Everything here is real: the sentence-transformers model, spaCy, the on-disk embedding
cache (under ``$SCREENING_CACHE_DIR`` when set, else a session temp folder).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from screening.paths import builtin_rubrics_dir
from screening.report import Answer, AnswerReport, CandidateAnswers, CandidateReport
from screening.rubric import Rubric, load_rubric

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUBRIC_PATH = builtin_rubrics_dir() / "customer-service-attitude.toml"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedding cache folder shared by the session scorer and every CLI run."""
    explicit = os.environ.get("SCREENING_CACHE_DIR")
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screening-cache")


@pytest.fixture(scope="session")
def scorer(cache_dir: Path):
    """The one real scorer of the session (real model, real spaCy)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from screening.engine import build_scorer

    return build_scorer(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def default_rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC_PATH)


@pytest.fixture(scope="session")
def score_answer(scorer, default_rubric: Rubric) -> Callable[..., AnswerReport]:
    """Score one answer to one question of the default rubric (memoised per text)."""
    memo: dict[tuple[str, str], AnswerReport] = {}

    def run(question_id: str, text: str) -> AnswerReport:
        key = (question_id, text)
        if key not in memo:
            candidate = CandidateAnswers(candidate_id="c", answers=(Answer(question_id=question_id, text=text),))
            memo[key] = scorer.score(default_rubric, candidate).answers[0]
        return memo[key]

    return run


@pytest.fixture(scope="session")
def score_candidate(scorer, default_rubric: Rubric) -> Callable[[CandidateAnswers], CandidateReport]:
    return lambda candidate: scorer.score(default_rubric, candidate)


# ---------------------------------------------------------------- rubric TOML builder


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """TOML for a rubric-shaped dict: scalars, tables, and arrays of tables."""
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)}
    for key, value in data.items():
        if key not in tables and key not in arrays:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables.items():
        lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def minimal_rubric(scale_min: int = 1, scale_max: int = 5) -> dict[str, Any]:
    """A small valid rubric as a dict: two dimensions, two questions, references at both ends.

    Tests deep-copy it, break one thing and render it with :func:`to_toml`.
    """
    levels = range(scale_min, scale_max + 1)
    refs = []
    texts = {
        "ownership": ("I'd sort it out myself and call her back.", "Not my job; I'd tell her to ring someone else."),
        "empathy": ("I'd say how sorry I am and reassure her.", "I'd tell her to calm down and read the policy."),
    }
    for question, dimensions in (("late-parcel", ("ownership", "empathy")), ("rude-caller", ("empathy",))):
        for dimension in dimensions:
            good, bad = texts[dimension]
            refs.append(
                {"question": question, "dimension": dimension, "level": scale_max, "text": f"{good} ({question})"}
            )
            refs.append(
                {"question": question, "dimension": dimension, "level": scale_min, "text": f"{bad} ({question})"}
            )
    return {
        "id": "mini",
        "version": "1.0.0",
        "title": "Mini rubric",
        "scale": {"min": scale_min, "max": scale_max, "labels": [f"level {n}" for n in levels]},
        "dimensions": [
            {"id": "ownership", "name": "Ownership", "description": "Owns the problem.", "weight": 1.0},
            {"id": "empathy", "name": "Empathy", "description": "Cares for the person.", "weight": 1.0},
        ],
        "questions": [
            {
                "id": "late-parcel",
                "prompt": "A parcel is late. What do you do?",
                "measures": [{"dimension": "ownership", "weight": 1.0}, {"dimension": "empathy", "weight": 1.0}],
            },
            {
                "id": "rude-caller",
                "prompt": "A caller is rude to you. What do you do?",
                "measures": [{"dimension": "empathy"}],
            },
        ],
        "references": refs,
        "red_flags": [{"dimension": "ownership", "texts": ["That's not my department."]}],
    }


@pytest.fixture
def rubric_dict() -> dict[str, Any]:
    """A fresh, valid minimal rubric dict (a deep copy each time) to break in one place."""
    return copy.deepcopy(minimal_rubric())


# ---------------------------------------------------------------- CLI


@pytest.fixture(scope="session")
def run_cli(cache_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m screening.cli ARGS`` offline, with the shared embedding cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SCREENING_CACHE_DIR": str(cache_dir), "TQDM_DISABLE": "1"}

    def run(*args: str, cwd: Path = REPO_ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "screening.cli", *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def render_toml() -> Callable[[dict[str, Any]], str]:
    """The rubric-dict -> TOML text renderer."""
    return to_toml


@pytest.fixture(scope="session")
def make_rubric_dict() -> Callable[..., dict[str, Any]]:
    """``make_rubric_dict(scale_min=1, scale_max=5)``: a fresh valid minimal rubric dict."""
    return lambda scale_min=1, scale_max=5: copy.deepcopy(minimal_rubric(scale_min, scale_max))
