"""Lean processes: keep torch out of a process that encodes with onnxruntime.

torch is needed only to train the behaviour encoder and to export it to ONNX; a service worker on
an ONNX backend needs neither, yet spaCy's thinc imports torch whenever it is installed (about
300 MB of resident memory per worker). :func:`forbid_torch`, called before anything imports spaCy,
makes ``import torch`` fail in this process, so thinc runs without it; an export still missing
then runs in a child process (:func:`export_in_child`), which may import torch.
"""

from __future__ import annotations

import importlib.abc
import subprocess
import sys
from pathlib import Path

__all__ = ["TORCH_MODULES", "export_in_child", "forbid_torch", "torch_forbidden", "torch_free_backend"]

TORCH_MODULES = ("torch", "transformers", "sentence_transformers")


def torch_free_backend(backend: str | None) -> bool:
    """Whether ``backend`` (a ``SCREENING_ENCODER_BACKEND`` value) runs without torch."""
    return backend in ("onnx", "onnx-int8")


class _TorchBlocker(importlib.abc.MetaPathFinder):
    """A finder that refuses torch and the libraries built on it (libraries that only *check* for torch,
    such as scipy's array-API helpers, look in ``sys.modules`` and find nothing there).
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        """Refuse the blocked top-level packages; leave every other import to the next finders."""
        if fullname.partition(".")[0] in TORCH_MODULES:
            raise ModuleNotFoundError(f"{fullname} is kept out of this process (ONNX backend)", name=fullname)


def forbid_torch() -> bool:
    """Make ``import torch`` (and transformers, sentence-transformers) fail in this process from now on.

    Returns ``False``, changing nothing, when one of them is already imported.
    """
    if any(name in sys.modules for name in TORCH_MODULES):
        return False
    if not torch_forbidden():
        sys.meta_path.insert(0, _TorchBlocker())
    return True


def torch_forbidden() -> bool:
    """Whether :func:`forbid_torch` is in force in this process."""
    return any(isinstance(finder, _TorchBlocker) for finder in sys.meta_path)


def export_in_child(model: str, cache_dir: Path) -> None:
    """Run ``screening model export`` in a child process (which may import torch); raise if it fails."""
    code = "import sys; from screening.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, "model", "export", "--model", model, "--cache-dir", str(cache_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ONNX export in a child process failed: {done.stderr.strip()[-500:]}")
