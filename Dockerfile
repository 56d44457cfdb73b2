# One image for every service; the compose file picks the command (python -m <module>).
# Dependencies come from requirements.lock (exact versions and hashes), never resolved at
# build time, so an image built today and one built next month run the same code.

# The Python 3.11 image both stages start from. `make compose-smoke` builds on a local one
# (deploy/smoke/), as no image registry is reachable there.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Unset, pip downloads from PyPI. A build that may not (the smoke run) serves pip a
# wheelhouse instead: PIP_FIND_LINKS=<its URL> PIP_NO_INDEX=1. The hashes of the lock are
# checked either way.
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The lock alone first: this layer is rebuilt only when the lock changes, not the code.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml ./
COPY shared ./shared
COPY ingest ./ingest
COPY enricher ./enricher
COPY notifier ./notifier
# The operators' status command: docker compose exec notifier python -m ops.status
COPY ops ./ops
COPY sandbox ./sandbox
COPY devstack ./devstack
# --no-deps: everything the project needs is already installed from the lock.
RUN pip install --no-deps . && pip check

# The runtime stage: the virtualenv only, no build tree, no pip cache, not root.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --uid 10001 --no-create-home pipeline \
    && mkdir /spool && chown pipeline /spool
WORKDIR /app
USER pipeline
CMD ["python", "-m", "ingest"]
