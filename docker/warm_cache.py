"""Warm the image's cache at build time, so that a container never computes (or downloads) it at start.

Loads the scorer exactly as the service does (settings from ``SCREENING_*``: the ONNX backend in the image),
encodes every built-in rubric's references and fits the newest versions' level models, as the service's
start-up does; the results land in ``$SCREENING_CACHE_DIR``. Run by the Dockerfile: ``python docker/warm_cache.py``.
"""

from __future__ import annotations

import time

from api.app import default_scorer_factory
from api.settings import Settings
from screening.paths import builtin_rubrics_dir
from screening.rubric import RubricLibrary


def main() -> None:
    """Prepare every built-in rubric on the configured encoder; print what was done."""
    started = time.monotonic()
    settings = Settings.from_env()
    scorer = default_scorer_factory(settings)()
    library = RubricLibrary.from_folder(builtin_rubrics_dir())
    for rubric in library:
        scorer.prepare(rubric)
    for rubric_id in library.ids():
        scorer.prepare(library.get(rubric_id)).warm()
    backend = settings.encoder_backend or "torch"
    print(f"cache warmed: {len(library.ids())} rubric(s) on {backend} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
