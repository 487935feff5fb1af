# The template image: the Flex Template launcher AND the workers' SDK container, in one.
# Pattern of Google's pipeline_with_dependencies sample: Beam's SDK harness (/opt/apache/beam)
# and the launcher binary copied onto a slim Python 3.11, dependencies installed at build time
# from the hash-locked requirements.lock, so nothing is installed when a job launches or a
# worker starts. Every base is pinned (docs/deploy.md, "Reproducible images"):
# - BEAM_VERSION equals the apache-beam pin in pyproject.toml and requirements.lock;
# - LAUNCHER_TAG is a dated tag Google publishes (never "latest");
# - PYTHON_IMAGE is a patch release on a named Debian.
# tests/unit/test_packaging.py checks all three.
ARG BEAM_VERSION=2.77.0
ARG LAUNCHER_TAG=20240812-rc01
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:${LAUNCHER_TAG} AS launcher

FROM ${PYTHON_IMAGE}
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

ARG WORKDIR=/template
WORKDIR ${WORKDIR}

# Runtime dependencies and the build backend (setuptools), all hash-locked.
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && pip check

# What the launcher and the workers run: contract v1, the wire encoders and the pipeline (never the producer or the
# tools). Built with the locked setuptools, not a fresh one fetched into an isolated build.
COPY pyproject.toml README.md ./
COPY transactions/ transactions/
COPY transactions_wire/ transactions_wire/
COPY transactions_pipeline/ transactions_pipeline/
COPY template/main.py template/main.py
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && pip check

# The launcher runs this file; no FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE or _SETUP_FILE: those
# make the launcher install packages at launch time, which is slow and times out.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/template/main.py"
# Workers run this same image, with everything installed: boot uses this Python as it is,
# instead of making a virtual environment each time a worker starts.
ENV RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1
# The image's own name, set by Cloud Build: the launch falls back on it for sdk_container_image,
# so the workers run this image even if a launch did not say so.
ARG TEMPLATE_IMAGE=""
ENV TRANSACOES_TEMPLATE_IMAGE=${TEMPLATE_IMAGE}

# Root is kept: the launcher and the SDK harness write to /var/opt/google and the staging
# folders as the Dataflow service expects; the producer image runs as a non-root user.
ENTRYPOINT ["/opt/apache/beam/boot"]
