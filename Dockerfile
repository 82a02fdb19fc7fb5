# syntax=docker/dockerfile:1
# The workbench app in a container: the embedded LLM and the Streamlit app, as a non-root user,
# with the home on a volume. Build: docker build -t workbench .
# Run:   docker run -p 8501:8501 -v workbench-home:/home/workbench/data workbench

# --- build: compilers for llama-cpp-python, every wheel into one virtualenv -------------------
FROM python:3.11.7-slim-bookworm AS build
# Debian's security updates move these versions: the base image's tag is what is pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
# The CPU build of torch first, from PyTorch's CPU index: otherwise a dependency pulls the
# multi-gigabyte CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY workbench ./workbench
RUN pip install .

# --- runtime: the virtualenv, the app file and the samples, no compilers -------------------
FROM python:3.11.7-slim-bookworm AS runtime
# gocryptfs and fusermount for an encrypted home (`workbench encrypt`); run the container with
# --device /dev/fuse --cap-add SYS_ADMIN to use one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gocryptfs fuse3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin workbench
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=workbench:workbench app_streamlit.py ./
COPY --chown=workbench:workbench data/samples ./data/samples
COPY --chown=workbench:workbench notebooks ./notebooks
ENV PATH="/opt/venv/bin:$PATH" \
    WORKBENCH_HOME=/home/workbench/data \
    WORKBENCH_CACHE_DIR=/home/workbench/.cache/workbench \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
USER 10001
RUN mkdir -p /home/workbench/data
VOLUME ["/home/workbench/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
ENTRYPOINT ["workbench"]
CMD ["serve", "--address", "0.0.0.0", "--port", "8501"]
