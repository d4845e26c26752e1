"""A torch-free encoder: an exported ONNX graph run by onnxruntime, texts tokenised by ``tokenizers``.

Reads an export folder (:mod:`screening.onnx_export`): the fp32 graph (backend ``onnx``) or
its dynamic int8 copy (``onnx-int8``), and the model's ``tokenizer.json``, truncated at the
model's ``max_seq_length`` and padded to the longest text of each batch. Texts are sorted by
length within a call so each batch pads little, then the rows are put back in order. Mean
pooling over the attention mask and L2 normalisation follow the sentence-transformers model,
so the fp32 graph gives the torch encoder's embeddings to float rounding.

Imports neither torch nor transformers. ``encode`` is safe to call from several threads:
``InferenceSession.run`` is, and the tokenizer is configured once and only read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from screening.encoder import Embeddings, file_sha256
from screening.errors import ModelError
from screening.onnx_export import OnnxBackend, read_onnx_export

__all__ = ["DEFAULT_ONNX_BATCH_SIZE", "OnnxEncoder", "default_threads", "execution_providers"]

DEFAULT_ONNX_BATCH_SIZE = 8  # measured: on CPU, small length-sorted batches beat 32 (less padding), see README


def default_threads() -> int:
    """``$SCREENING_ONNX_THREADS``, else the CPUs this process may use."""
    explicit = os.environ.get("SCREENING_ONNX_THREADS")
    if explicit:
        return max(1, int(explicit))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execution_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it (``onnxruntime-gpu`` on a CUDA machine), then the CPU."""
    available = set(ort.get_available_providers())
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxEncoder:
    """An exported encoder behind the one-method seam; its ``weights_sha256`` is the graph's."""

    def __init__(
        self,
        export_dir: Path,
        backend: OnnxBackend = "onnx",
        *,
        model_id: str | None = None,
        batch_size: int = DEFAULT_ONNX_BATCH_SIZE,
        threads: int | None = None,
    ) -> None:
        info = read_onnx_export(export_dir)
        if info is None:
            raise ModelError(f"No ONNX export in {export_dir}; run `screening model export`.")
        graph = info.graph_path(export_dir, backend)
        graph_sha256 = file_sha256(graph)
        if graph_sha256 != info.graphs_sha256[backend]:
            raise ModelError(
                f"ONNX graph {graph} has sha256 {graph_sha256}, but its export recorded "
                f"{info.graphs_sha256[backend]}. Delete {export_dir} to export it again."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.enable_cpu_mem_arena = False
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(graph), options, providers=execution_providers())
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        self._pad_id = int((tokenizer.padding or {}).get("pad_id", 0))
        tokenizer.no_padding()  # padded per batch, to that batch's longest text
        tokenizer.enable_truncation(max_length=info.max_seq_length)
        self._tokenizer = tokenizer
        self._backend: OnnxBackend = backend
        self._model_id = model_id or info.model_id
        self._graph_sha256 = graph_sha256
        self._source_weights_sha256 = info.source_weights_sha256
        self._dimension = info.dimension
        self._batch_size = max(1, batch_size)

    @property
    def model_id(self) -> str:
        """The model's name (that of the torch model it was exported from)."""
        return self._model_id

    @property
    def weights_sha256(self) -> str:
        """sha256 of the ONNX graph file in use (each backend's embeddings are cached apart)."""
        return self._graph_sha256

    @property
    def graph_sha256(self) -> str:
        """sha256 of the ONNX graph file in use."""
        return self._graph_sha256

    @property
    def source_weights_sha256(self) -> str:
        """sha256 of the (verified) weights the graph was exported from."""
        return self._source_weights_sha256

    @property
    def backend(self) -> OnnxBackend:
        """``onnx`` (fp32) or ``onnx-int8``."""
        return self._backend

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        return self._dimension

    @property
    def device(self) -> str:
        """``cuda`` when the session runs on a CUDA device, else ``cpu``."""
        return "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Encode in length-sorted batches; rows are L2-normalised float32, in the order given."""
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._encode_batch([encodings[i] for i in rows])
        return out

    def _encode_batch(self, encodings: list[Encoding]) -> Embeddings:
        """Pooled, normalised embeddings of pre-tokenised texts (padded here to the batch's longest)."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (tokens,) = self._session.run(["token_embeddings"], {k: v for k, v in feed.items() if k in self._inputs})
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)
