# syntax=docker/dockerfile:1
# The attitude-screening service in one image: the API, its job workers and the first-run tools, one role per
# container (docker/entrypoint.sh). The model, the behaviour encoder (exported to ONNX) and the text pipeline
# are baked in at build time: a running container never downloads anything. See README, "Container stack".
#
#   docker build -t attitude-screening .        # needs the package registries, once (about 10 minutes)
#   docker compose up -d                        # the stack: compose.yaml

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with the project, and the model cache --------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    SCREENING_CACHE_DIR=/opt/screening/cache
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# torch pinned first, as in scripts/setup.sh: 2.13.0 resolves to the CPU build (any other spec pulls CUDA).
# It trains the behaviour encoder below; the service on the ONNX backend never loads it.
RUN pip install --upgrade pip && pip install torch==2.13.0
COPY pyproject.toml README.md ./
COPY screening ./screening
COPY api ./api
COPY rubrics ./rubrics
COPY models ./models
COPY docker/warm_cache.py ./docker/warm_cache.py
RUN pip install '.[api]'
# Method v2's behaviour encoder is built, not shipped: trained from its recipe (seeded) and exported to ONNX.
RUN screening model build
# The built-in rubrics' references encoded and their level models fitted on the ONNX backend, as at start-up.
RUN SCREENING_ENCODER_BACKEND=onnx python docker/warm_cache.py

# ---- runtime: the environment and the cache, a non-root user, no compilers ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 screening \
 && useradd --system --uid 10001 --gid screening --home-dir /var/lib/screening --shell /usr/sbin/nologin screening \
 && mkdir -p /var/lib/screening /opt/screening \
 && chown screening:screening /var/lib/screening
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=screening:screening /opt/screening/cache /opt/screening/cache
COPY docker/entrypoint.sh /usr/local/bin/screening-entrypoint
RUN chmod 0755 /usr/local/bin/screening-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SCREENING_CACHE_DIR=/opt/screening/cache \
    SCREENING_ENCODER_BACKEND=onnx \
    SCREENING_HOST=0.0.0.0 \
    SCREENING_PORT=8000 \
    SCREENING_DATABASE_URL=sqlite+aiosqlite:////var/lib/screening/screening.sqlite3
USER screening:screening
WORKDIR /var/lib/screening
VOLUME ["/var/lib/screening"]
EXPOSE 8000
# The model loads after the process starts: /readyz says 503 until it has (start period generous for 2 cores).
HEALTHCHECK --interval=30s --timeout=6s --start-period=180s --retries=3 CMD ["screening-entrypoint", "healthcheck"]
ENTRYPOINT ["screening-entrypoint"]
CMD ["serve"]
