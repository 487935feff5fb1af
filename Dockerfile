# The template image: the Flex Template launcher AND the workers' SDK container, in one.
# Pattern of Google's pipeline_with_dependencies sample: Beam's SDK harness (/opt/apache/beam)
# and the launcher binary copied onto a slim Python 3.11, dependencies installed at build time
# from the hash-locked requirements.lock, so nothing is installed when a job launches.
# BEAM_VERSION must equal the apache-beam pin in pyproject.toml and requirements.lock
# (tests/unit/test_packaging.py checks it). LAUNCHER_TAG: "latest" as Google's docs recommend,
# or a published dated tag such as 20230622_RC00 (the one Google's sample pins).
ARG BEAM_VERSION=2.77.0
ARG LAUNCHER_TAG=latest

FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:${LAUNCHER_TAG} AS launcher

FROM python:3.11-slim
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

ARG WORKDIR=/template
WORKDIR ${WORKDIR}

COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && pip check

# What the launcher and the workers run: contract v1 and the pipeline (never the producer or the tools).
COPY pyproject.toml README.md ./
COPY transactions/ transactions/
COPY template/ template/
RUN pip install --no-cache-dir --no-deps . \
    && pip check

# The launcher runs this file; no FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE or _SETUP_FILE: those
# make the launcher install packages at launch time, which is slow and times out.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/template/main.py"
# Workers run this same image (sdk_container_image): everything is already installed.
ENV PIP_NO_DEPS=True

# Root is kept: the launcher and the SDK harness write to /var/opt/google and the staging
# folders as the Dataflow service expects; the producer image runs as a non-root user.
ENTRYPOINT ["/opt/apache/beam/boot"]
