"""The ONNX backends with the real model and real onnxruntime: agreement with torch, provenance,
no torch at run time, concurrent exports.

The behaviour encoder is exported once per session into the session cache (reused when the
cache already holds the export).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np
import pytest

from screening.behaviour_model import BEHAVIOUR_MODEL
from screening.encoder import CachingEncoder, EmbeddingCache, encoder_identity, file_sha256
from screening.engine import behaviour_model_folder, checked_backend, default_backend, export_model, open_encoder
from screening.errors import ModelError
from screening.onnx_encoder import OnnxEncoder
from screening.onnx_export import GRAPH_FILES, read_onnx_export
from screening.report import Answer, CandidateAnswers, Provenance
from screening.rubric import load_rubric
from screening.scorer import Scorer

REPO_ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "I'd apologise straight away and tell her I'll handle it myself from start to finish.",
    "Not my job; I'd tell her to ring someone else.",
    "ok",
    "",
    "Je m'excuserais et je rappellerais la cliente moi-même — naïve café 😀.",
    "I would call the courier, book a same-day replacement and ring her back personally. " * 30,  # > 256 tokens
]
# measured by scripts/backend_agreement.py: lowest 0.978 over 624 held-out and Beetle answers, mean 0.993
INT8_MIN_COSINE = 0.97


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.fixture(scope="session")
def export(cache_dir: Path) -> tuple[str, Path]:
    """``(model id, export folder)`` of the behaviour encoder, exported once."""
    return export_model(BEHAVIOUR_MODEL, cache_dir)


@pytest.fixture(scope="session")
def torch_vectors(cache_dir: Path) -> np.ndarray:
    encoder = open_encoder(BEHAVIOUR_MODEL, cache_dir, backend="torch")
    return encoder.encode(TEXTS)


@pytest.fixture(scope="session")
def int8_encoder(export: tuple[str, Path]) -> OnnxEncoder:
    return OnnxEncoder(export[1], "onnx-int8")


def test_export_records_each_graph_hash(export: tuple[str, Path]) -> None:
    model_id, folder = export
    info = read_onnx_export(folder)
    assert info is not None and info.model_id == model_id == BEHAVIOUR_MODEL
    for backend, name in GRAPH_FILES.items():
        assert file_sha256(folder / name) == info.graphs_sha256[backend]
    assert info.max_seq_length == 256 and info.dimension == 384
    assert folder.name.endswith(f"-{info.source_weights_sha256[:16]}-onnx")


def test_fp32_graph_gives_torch_embeddings(export: tuple[str, Path], torch_vectors: np.ndarray) -> None:
    vectors = OnnxEncoder(export[1], "onnx").encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == torch_vectors.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines(vectors, torch_vectors).min() >= 0.9999


def test_int8_graph_stays_close_to_torch(int8_encoder: OnnxEncoder, torch_vectors: np.ndarray) -> None:
    vectors = int8_encoder.encode(TEXTS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    found = cosines(vectors, torch_vectors)
    assert found.min() >= INT8_MIN_COSINE, found
    assert found.mean() >= 0.985, found


def test_rows_come_back_in_order_whatever_the_batching(export: tuple[str, Path]) -> None:
    big = OnnxEncoder(export[1], "onnx", batch_size=32).encode(TEXTS)
    small = OnnxEncoder(export[1], "onnx", batch_size=2, threads=1)
    reordered = [TEXTS[i] for i in (5, 2, 0, 4, 3, 1)]
    np.testing.assert_allclose(small.encode(reordered), big[[5, 2, 0, 4, 3, 1]], atol=1e-5)
    assert small.encode([]).shape == (0, 384)


def test_encode_is_thread_safe(int8_encoder: OnnxEncoder) -> None:
    alone = int8_encoder.encode(TEXTS)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: int8_encoder.encode(TEXTS), range(8)))
    for result in results:
        np.testing.assert_allclose(result, alone, atol=1e-6)


def test_provenance_names_the_backend_and_the_graph(
    scorer, export: tuple[str, Path], cache_dir: Path, tmp_path: Path, render_toml, make_rubric_dict
) -> None:
    encoder = open_encoder(BEHAVIOUR_MODEL, cache_dir, backend="onnx-int8")
    path = tmp_path / "mini.toml"
    path.write_text(render_toml(make_rubric_dict()), encoding="utf-8")
    rubric = load_rubric(path)
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    int8_scorer = Scorer(encoder, scorer.analyzer, reference_encoder=CachingEncoder(encoder, cache))
    answer = Answer(question_id="late-parcel", text="I would sort it out myself and call her back with an update.")
    report = int8_scorer.score(rubric, CandidateAnswers(candidate_id="c", answers=(answer,)))
    p = report.provenance
    info = read_onnx_export(export[1])
    assert info is not None
    assert p.encoder_backend == "onnx-int8"
    assert p.encoder_graph_sha256 == info.graphs_sha256["onnx-int8"] == encoder.weights_sha256
    assert p.model_weights_sha256 == info.source_weights_sha256 != p.encoder_graph_sha256
    assert p.model_id == BEHAVIOUR_MODEL
    torch_provenance = scorer.provenance(scorer.prepare(rubric))
    assert encoder_identity(scorer.encoder).backend == torch_provenance.encoder_backend
    if torch_provenance.encoder_backend == "torch":
        assert torch_provenance.encoder_graph_sha256 is None
        assert torch_provenance.model_weights_sha256 == p.model_weights_sha256


def test_stored_reports_without_a_backend_decode_as_torch() -> None:
    old = {
        "rubric_id": "r",
        "rubric_version": "1",
        "rubric_fingerprint": "sha256:" + "0" * 64,
        "model_id": "m",
        "model_weights_sha256": "0" * 64,
        "method": "screening.stacked-levels.v2",
        "text_pipeline": "spacy",
        "engine_version": "0.1.0",
    }
    decoded = msgspec.json.decode(msgspec.json.encode(old), type=Provenance)
    assert (decoded.encoder_backend, decoded.encoder_graph_sha256) == ("torch", None)


def test_backend_names_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="onnx-int8"):
        checked_backend("tensorrt")
    monkeypatch.setenv("SCREENING_ENCODER_BACKEND", "onnx-int8")
    assert default_backend() == "onnx-int8"
    monkeypatch.delenv("SCREENING_ENCODER_BACKEND")
    assert default_backend() == "torch"


def test_runtime_encoder_imports_no_torch(export: tuple[str, Path]) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from screening.onnx_encoder import OnnxEncoder
        vectors = OnnxEncoder(Path({str(export[1])!r}), "onnx-int8").encode(["I'd call her back myself.", "ok"])
        assert vectors.shape == (2, 384), vectors.shape
        heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_concurrent_exports_export_once_and_agree(export: tuple[str, Path], cache_dir: Path, tmp_path: Path) -> None:
    info = read_onnx_export(export[1])
    assert info is not None
    source = behaviour_model_folder(cache_dir)
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from screening.onnx_export import ensure_onnx_export
        ensure_onnx_export(Path({str(tmp_path)!r}), {BEHAVIOUR_MODEL!r}, Path({str(source)!r}),
                           {info.source_weights_sha256!r}, log=lambda line: print(line, flush=True))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    assert sum(out.count("exporting ") for out, _ in outputs) == 1, outputs
    fresh = read_onnx_export(tmp_path / "models" / export[1].name)
    assert fresh is not None
    assert fresh.graphs_sha256 == info.graphs_sha256  # the export is deterministic
    assert not list((tmp_path / "models").glob("*.exporting-*"))
