#!/usr/bin/env bash
# Search and chat figures of OLD_REF and of this checkout, measured in one run, alternating
# old/new ROUNDS times (default 2), so that a busy machine slows both alike.
# Usage: .ci/compare-figures.sh OLD_REF [ROUNDS]
# Environment: PYTHON (default .venv/bin/python), SIZES (default 100000), PAUSE (default 6).
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=${1:?usage: .ci/compare-figures.sh OLD_REF [ROUNDS]}
rounds=${2:-2}
python=${PYTHON:-$PWD/.venv/bin/python}
sizes=${SIZES:-100000}
pause=${PAUSE:-6}
new_tree=$PWD
old_tree=$(mktemp -d)/old
out=$(mktemp -d)
git worktree add --detach "$old_tree" "$old_ref" >/dev/null
trap 'git worktree remove --force "$old_tree"' EXIT

run() {  # run LABEL TREE ROUND: both benchmarks of one checkout, each result kept as JSON
    local label=$1 tree=$2 round=$3 home
    home=$(mktemp -d)
    (cd "$tree" && export PYTHONPATH=$tree WORKBENCH_HOME=$home HF_HUB_OFFLINE=1 \
        TRANSFORMERS_OFFLINE=1 &&
     "$python" -m workbench bench search --sizes "$sizes" >/dev/null &&
     "$python" -m workbench bench chat --pause "$pause" >/dev/null)
    cp "$(ls "$home"/bench/search-*.json)" "$out/search-$label-$round.json"
    cp "$(ls "$home"/bench/chat-*.json)" "$out/chat-$label-$round.json"
    rm -rf "$home"
}

for round in $(seq 1 "$rounds"); do
    run old "$old_tree" "$round"
    run new "$new_tree" "$round"
done

"$python" - "$out" "$rounds" <<'PY'
import json, sys
from pathlib import Path

out, rounds = Path(sys.argv[1]), int(sys.argv[2])
def rows(kind, label, round_):
    return json.loads((out / f"{kind}-{label}-{round_}.json").read_text())["rows"]
print(f"{'figure':44} " + " ".join(f"{l}#{r:<6}" for r in range(1, rounds + 1) for l in ("old", "new")))
for engine in ("mirror", "lancedb"):
    for key in ("p50_ms", "p95_ms", "ann_recall_at_10"):
        values = [next(x for x in rows("search", l, r) if x["engine"] == engine)[key]
                  for r in range(1, rounds + 1) for l in ("old", "new")]
        print(f"{'search ' + engine + ' ' + key:44} " + " ".join(f"{v:<10.3f}" for v in values))
for key in ("overhead_p50_ms", "overhead_p95_ms", "with_indexing_p50_ms", "with_indexing_p95_ms",
            "indexing_p95_ms", "compaction_ms"):
    values = [rows("chat", l, r)[0].get(key) for r in range(1, rounds + 1) for l in ("old", "new")]
    print(f"{'chat ' + key:44} " + " ".join("-" if v is None else f"{v:<10.1f}" for v in values))
print(f"(raw JSON in {out})")
PY
