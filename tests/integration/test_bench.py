"""The benchmark commands run end to end at small sizes: their tables print and their results
are stored (the figures themselves are measured on real sizes, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import Cli
from workbench.bench import synthetic
from workbench.bench.search import composed_vectors, embed_base


def _stored(cli: Cli, name: str) -> dict:
    [path] = (cli.home / "bench").glob(f"{name}-*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
def test_bench_search_small(cli: Cli):
    result = cli("bench", "search", "--sizes", "600")
    assert "search benchmark" in result.stdout
    rows = _stored(cli, "search")["rows"]
    assert {r["engine"] for r in rows} == {"mirror", "lancedb"}
    for row in rows:
        assert row["messages"] == 600 and 0 < row["p50_ms"] <= row["p95_ms"]
        assert row["ann_recall_at_10"] >= 0.95  # exact below the ANN threshold
        # Questions that name a participant are timed too, and the default retriever searches
        # them again without the name.
        assert 0 < row["named_p50_ms"] <= row["named_p95_ms"] and row["named_second_pass"] > 0.5
    assert list((cli.home / "bench" / "cache").glob("base-*.npy"))  # for the next run


def test_the_base_texts_are_embedded_once_and_kept(tmp_path: Path, embedder):
    first = embed_base(embedder, 40, cache=tmp_path, vectors="copies")
    [kept] = tmp_path.glob("base-*.npy")
    np.testing.assert_array_equal(np.load(kept), first)
    # A larger table copies the same texts first: one embedding serves every size.
    np.testing.assert_allclose(embed_base(embedder, 80, vectors="copies")[:40], first, atol=1e-5)
    np.save(kept, np.zeros_like(first))
    assert not embed_base(embedder, 40, cache=tmp_path, vectors="copies").any()  # read back


def test_composed_vectors_stand_close_to_the_messages_own(embedder):
    places = synthetic.message_sentences(60, seed=4)
    texts = [text for _, text in synthetic.messages(60, seed=4)]
    sentences = synthetic.real_sentences()
    used = sorted({i for p in places for i in p})
    embedded = np.zeros((len(sentences), embedder.dimension), dtype=np.float32)
    embedded[used] = embedder.encode([sentences[i] for i in used])
    composed = composed_vectors(embedded, places)
    composed /= np.linalg.norm(composed, axis=1, keepdims=True)
    for vector, picked in zip(composed, places):  # the mean of its sentences' vectors
        mean = embedded[picked].mean(axis=0)
        np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-6)
    cosine = np.sum(composed * embedder.encode(texts), axis=1)
    several = np.array([len(p) > 1 for p in places])
    assert several.sum() > 20 and cosine[several].mean() > 0.85 and cosine.min() > 0.5
    assert np.allclose(cosine[~several], 1.0, atol=1e-4)  # one sentence: its own embedding


# A Python where the stores and the chat stack are not installed, as on a GPU machine that only
# has torch: importing any of them fails.
_WITHOUT_STORES = """
import importlib.abc, sys

class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"duckdb", "lancedb", "lance", "faiss", "spacy", "openai",
                                  "streamlit", "papermill", "llama_cpp"}:
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, Missing())
"""


@pytest.mark.slow
@pytest.mark.timeout(600)  # its child alone may take 300 s
def test_bench_embed_runs_without_the_stores(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_WITHOUT_STORES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "WORKBENCH_HOME": str(tmp_path / "home")}
    blocked = subprocess.run([sys.executable, "-c", "import duckdb"], env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0  # the guard is in force in the child processes

    result = subprocess.run([sys.executable, "-m", "workbench", "bench", "embed", "--texts", "60"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "embedding benchmark" in result.stdout and "bulk encoder" in result.stdout
    assert list((tmp_path / "home" / "bench").glob("embed-*.json"))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two benchmark processes, one after the other
def test_bench_compare_measures_an_exported_revision_and_this_tree(cli: Cli):
    """HEAD exported to a temp folder runs from there, this tree from here: both sides of
    every figure, one table, one JSON file."""
    result = cli("bench", "compare", "--base", "HEAD", "--steps", "search", "--sizes", "600")
    assert "before" in result.stdout and "search 600 (lancedb) p95 ms" in result.stdout
    stored = _stored(cli, "compare")
    metrics = {row["metric"]: row for row in stored["rows"]}
    assert set(metrics) == {f"search 600 ({engine}) {figure}" for engine in ("mirror", "lancedb")
                            for figure in ("p95 ms", "ANN R@10")}
    for row in metrics.values():
        assert row["base"] > 0 and row["head"] > 0 and row["base_s"] > 0 and row["head_s"] > 0
    assert len(stored["load"]) == 2 and stored["base"] in stored["head"]
    bad = cli("bench", "compare", "--steps", "search,speed", ok=False)
    assert bad.exit_code != 0 and "unknown steps speed" in bad.stderr


def test_compare_measures_one_data_on_both_sides(tmp_path: Path):
    """A base from before ``bench search --data`` measured noisy copies: the head must too."""
    from workbench.bench.compare import HEAD_ROOT, Version, knows_data

    old = tmp_path / "old" / "workbench" / "cli"
    old.mkdir(parents=True)
    old.joinpath("bench.py").write_text('sizes: str = typer.Option("10000", "--sizes")\n')
    assert not knows_data(Version("base", "old", tmp_path / "old", tmp_path / "home"))
    assert knows_data(Version("head", "new", HEAD_ROOT, tmp_path / "home"))
