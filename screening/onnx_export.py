"""ONNX copies of an encoder: the transformer exported once (fp32) and quantised (int8) into the cache.

:func:`ensure_onnx_export` loads the sentence-transformers model with torch, exports its
transformer (token embeddings; mean pooling and L2 normalisation are done by the runtime
encoder, :mod:`screening.onnx_encoder`) with ``torch.onnx.export`` and makes a dynamic int8
copy (int8 weights with per-channel scales, activations quantised at run time) with
``onnxruntime.quantization.quantize_dynamic``. The export lives in
``<cache>/models/<model name>-<source weights sha256[:16]>-onnx/``, keyed by the verified
source weights, and is written to a staging folder renamed into place under a file lock, so
concurrent workers export once. Both steps are deterministic for one torch/onnxruntime pair;
``export.json`` records the sha256 of each graph, which the runtime checks before loading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import msgspec

from screening.encoder import file_sha256
from screening.errors import ModelError

__all__ = [
    "EXPORT_FORMAT",
    "GRAPH_FILES",
    "OnnxExport",
    "ensure_onnx_export",
    "onnx_export_dir",
    "read_onnx_export",
]

EXPORT_FORMAT = 1
OPSET = 17
OnnxBackend = Literal["onnx", "onnx-int8"]
GRAPH_FILES: dict[OnnxBackend, str] = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MODULE_KINDS = ("Transformer", "Pooling", "Normalize")


class OnnxExport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``export.json`` says about one export: its source, its settings and its graphs."""

    format: int
    model_id: str
    source_weights_sha256: str
    max_seq_length: int
    dimension: int
    opset: int
    torch_version: str
    onnxruntime_version: str
    graphs_sha256: dict[str, str]

    def graph_path(self, folder: Path, backend: OnnxBackend) -> Path:
        """The graph file of ``backend`` in the export's ``folder``."""
        return folder / GRAPH_FILES[backend]


def onnx_export_dir(cache_dir: Path, model_id: str, source_weights_sha256: str) -> Path:
    """Where the export of these source weights lives (beside the built models)."""
    return cache_dir / "models" / f"{model_id.rsplit('/', 1)[-1]}-{source_weights_sha256[:16]}-onnx"


def read_onnx_export(folder: Path) -> OnnxExport | None:
    """The export recorded in ``folder``, or ``None`` when there is none of the current format."""
    path = folder / "export.json"
    if not path.is_file():
        return None
    info = msgspec.json.decode(path.read_bytes(), type=OnnxExport)
    return info if info.format == EXPORT_FORMAT else None


def ensure_onnx_export(
    cache_dir: Path,
    model_id: str,
    source: Path,
    source_weights_sha256: str,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The export folder of the model in ``source``, exporting it first if it is not there yet."""
    target = onnx_export_dir(cache_dir, model_id, source_weights_sha256)
    if read_onnx_export(target) is not None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    with open(target.parent / ".onnx-export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if read_onnx_export(target) is not None:
            return target
        staging = target.with_name(target.name + f".exporting-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            info = _export(model_id, source, source_weights_sha256, staging, say)
            (staging / "export.json").write_bytes(msgspec.json.format(msgspec.json.encode(info)))
            shutil.rmtree(target, ignore_errors=True)  # an export of an older format
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        say(f"ONNX export of {model_id} in {target}")
    return target


def _check_modules(source: Path) -> None:
    """Refuse models that are not transformer + mean pooling (+ normalisation): the runtime does only that."""
    try:
        modules = json.loads((source / "modules.json").read_text("utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((source / "1_Pooling" / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"Cannot export {source} to ONNX: not a sentence-transformers folder ({exc}).") from exc
    mode = pooling.get("pooling_mode") or ("mean" if pooling.get("pooling_mode_mean_tokens") else "other")
    if tuple(kinds) not in (_MODULE_KINDS, _MODULE_KINDS[:2]) or mode != "mean":
        raise ModelError(
            f"Cannot export {source} to ONNX: modules {kinds} with {mode} pooling; "
            "only a transformer with mean pooling (and normalisation) is supported."
        )


def _export(
    model_id: str, source: Path, source_weights_sha256: str, out: Path, say: Callable[[str], None]
) -> OnnxExport:
    """Export fp32 and int8 graphs and the tokenizer of the model in ``source`` into ``out``."""
    import torch
    from sentence_transformers import SentenceTransformer

    _check_modules(source)
    say(f"exporting {model_id} to ONNX (fp32 and int8)")
    model = SentenceTransformer(str(source), device="cpu").eval()
    transformer = model[0].auto_model

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # two rows of different lengths: the traced graph keeps the attention-mask path
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 7592, 2088, 2088, 2088, 102]])
    example = (ids, (ids != 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "token_embeddings")}
    fp32, int8 = out / GRAPH_FILES["onnx"], out / GRAPH_FILES["onnx-int8"]
    with torch.no_grad(), _quiet():
        torch.onnx.export(
            TokenEmbeddings().eval(),
            example,
            str(fp32),
            input_names=list(_INPUTS),
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        # per-channel weight scales: per-tensor int8 moved MiniLM's embeddings to cosine ~0.96 of fp32
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    return OnnxExport(
        format=EXPORT_FORMAT,
        model_id=model_id,
        source_weights_sha256=source_weights_sha256,
        max_seq_length=int(model.max_seq_length),
        dimension=int(transformer.config.hidden_size),
        opset=OPSET,
        torch_version=str(torch.__version__),
        onnxruntime_version=_version("onnxruntime"),
        graphs_sha256={backend: file_sha256(out / name) for backend, name in GRAPH_FILES.items()},
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' advice (tracer and deprecation warnings, the quantiser's root-logger hint)."""
    import warnings

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
