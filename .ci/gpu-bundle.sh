#!/usr/bin/env bash
# Builds a folder that measures `workbench bench embed` on a GPU machine with no network whose
# Python already has torch, sentence-transformers, tokenizers, rich and numpy, but none of the
# stores: the model saved in fp16 (half the size of the fp32 weights) and wheels of the settings
# and CLI libraries for that machine's Python. On that machine, from a copy of this repository:
#   bash build/gpu/run.sh [TEXTS]
set -euo pipefail
venv=${1:-.venv}
dest=${2:-build/gpu}
pyver=${PYTHON_VERSION:-3.12}
rm -rf "$dest"
mkdir -p "$dest/wheels"

"$venv/bin/python" - "$dest/model" <<'PY'
import json, sys
from pathlib import Path
from sentence_transformers import SentenceTransformer
from workbench.embeddings.model import PACKAGED_MINILM, resolve_model_path

target = Path(sys.argv[1])
SentenceTransformer(resolve_model_path(PACKAGED_MINILM), device="cpu").half().save(str(target))
# Load it back in float32, as the packaged model loads: the baseline row stays the fp32 encode.
config = target / "config.json"
settings = json.loads(config.read_text())
for key in ("dtype", "torch_dtype"):
    if key in settings:
        settings[key] = "float32"
config.write_text(json.dumps(settings, indent=2))
PY

# The versions this virtualenv runs, for CPython $pyver on x86-64 Linux.
pins=$("$venv/bin/python" - <<'PY'
from importlib.metadata import version
names = ["pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "annotated-types",
         "typing-inspection", "typing-extensions", "typer"]
print(" ".join(f"{name}=={version(name)}" for name in names))
PY
)
# shellcheck disable=SC2086
"$venv/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$pyver" \
    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dest/wheels" $pins

cat > "$dest/run.sh" <<'SH'
#!/usr/bin/env bash
# Run from the repository root: bash build/gpu/run.sh [TEXTS] (default 200000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
site=${TMPDIR:-/tmp}/workbench-site
python3 -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target "$site" \
    "$here"/wheels/*.whl
export PYTHONPATH="$PWD:$site" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export WORKBENCH_EMBEDDING_MODEL="$here/model" WORKBENCH_HOME=${WORKBENCH_HOME:-${TMPDIR:-/tmp}/workbench-home}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c 'import torch, transformers, sentence_transformers as st; print("torch", torch.__version__, "transformers", transformers.__version__, "sentence-transformers", st.__version__)'
python3 -m workbench bench embed --texts "${1:-200000}"
SH
chmod +x "$dest/run.sh"
du -sh "$dest" "$dest"/*
