# The workbench CLI for compose.yaml (the store and index live in the db service).
FROM python:3.11-slim
# llama-cpp-python builds from source.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workbench ./workbench
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir .
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ENTRYPOINT ["workbench"]
CMD ["stats"]
