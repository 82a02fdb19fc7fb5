"""The bulk encoder (the GPU ingest path) gives the model's own vectors, in the input order;
run here on CPU in fp32, where they must match sentence-transformers' ``encode``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import Cli
from workbench.bench import synthetic
from workbench.embeddings.bulk import BulkEncoder
from workbench.embeddings.model import Embedder


@pytest.fixture(scope="module")
def model():
    return Embedder().model


def test_bulk_vectors_are_the_models(model):
    texts = [text for _, text in synthetic.messages(150, seed=5)]
    texts += ["", "ok", "Olá, tudo bem? Amanhã às 9h.", "long " * 600]  # the last cut at 256
    # Small batches and slices, so that several of each are sorted, padded and put back in order.
    bulk = BulkEncoder(model, max_batch=16, token_budget=16 * 48, slice_size=64)
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = bulk.encode(texts)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert bulk.encode([]).shape == (0, expected.shape[1])


def test_a_tokenising_error_reaches_the_caller(model):
    bulk = BulkEncoder(model, max_batch=2, slice_size=2)
    with pytest.raises(Exception):
        bulk.encode(["fine", "also fine", None, "never reached"])


def test_bench_embed_small(cli: Cli):
    result = cli("bench", "embed", "--texts", "120")
    assert "embedding benchmark" in result.stdout
    [path] = (cli.home / "bench").glob("embed-*.json")
    rows = json.loads(path.read_text())["rows"]
    assert [r["encoder"] for r in rows] == ["sentence-transformers encode", "bulk encoder",
                                            "its tokenizer alone (no model)"]
    assert all(r["texts"] == 120 and r["texts_per_s"] > 0 for r in rows)
    assert rows[1]["min_cosine_to_encode"] > 0.9999  # fp32 on CPU: the same vectors
    assert rows[2]["min_cosine_to_encode"] is None and rows[2]["ratio_to_encode"] > 1
