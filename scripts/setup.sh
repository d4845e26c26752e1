#!/usr/bin/env bash
# Create .venv and install the project with its API and test extras, offline model included,
# then build the behaviour encoder into the cache ($SCREENING_CACHE_DIR or ~/.cache/attitude-screening).
# torch is pinned first: 2.13.0 resolves to the CPU build; any other spec pulls CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e '.[api,dev]'
# Method v2's behaviour encoder is built, not shipped: fine-tuned once (seeded) into the cache.
HF_HUB_OFFLINE=1 .venv/bin/screening model build
