"""Bulk embedding at the device's speed rather than the tokenizer's.

On a GPU, sentence-transformers' ``encode`` tokenises each batch in Python between device calls,
so MiniLM runs at ≈ 5,200 texts/s on an H100 while the fast tokenizer alone does ≈ 24,000/s and
the fp16 network on length-sorted batches ≈ 15,000/s. Here a producer thread tokenises slices of
texts with the Rust tokenizer (its own threads, off the GIL), sorts each slice by token count and
pads each batch only to its own longest text, under a budget of padded tokens, while the device
runs the previous batch; on CUDA the network runs in fp16. On two CPU cores the same path embeds
1.6× as many texts a second as ``encode`` (104 against 65). The vectors are the model's: the same
mean pooling and normalisation as ``embed.mean_pool``, in float32.
"""

from __future__ import annotations

import copy
import queue
import threading
from typing import Iterator, Sequence

import numpy as np

from workbench.embeddings.pooling import is_mean_pooled, mean_pool
from workbench.errors import InvalidInput

SLICE = 16_384  # texts tokenised and sorted together: sorting across more buys little padding
_DONE = object()


class BulkEncoder:
    """Many texts in, their normalised float32 vectors out, in the input order.

    Batches hold at most ``max_batch`` texts and ``token_budget`` padded tokens, so that one
    long text does not make a whole batch of short ones pay for its length."""

    def __init__(self, model, max_batch: int | None = None, token_budget: int | None = None,
                 slice_size: int = SLICE):
        if not is_mean_pooled(model):
            raise InvalidInput("the bulk encoder reproduces mean-pooled models only")
        from tokenizers import Tokenizer

        transformer = model[0]
        network = transformer.auto_model
        self.device = next(network.parameters()).device
        self.cuda = self.device.type == "cuda"
        # A half-precision copy for the bulk work; the model itself stays as loaded.
        self.network = copy.deepcopy(network).half().eval() if self.cuda else network.eval()
        self.dimension = int(network.config.hidden_size)
        # On CPU, 32 texts and 8,192 padded tokens measured best (16-128 texts: 90-104/s).
        self.max_batch = max_batch or (4096 if self.cuda else 32)
        self.token_budget = token_budget or (4096 * 128 if self.cuda else 32 * 256)
        self.pad_id = transformer.tokenizer.pad_token_id or 0
        self.tokenizer = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
        self.tokenizer.enable_truncation(transformer.max_seq_length)
        self.tokenizer.no_padding()
        self.inputs = set(transformer.tokenizer.model_input_names)
        self.slice_size = slice_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        landing = None  # the previous batch's copy to the host, still under way on CUDA
        with torch.inference_mode():
            for positions, feed in _prefetched(self._batches(texts)):
                feed = {name: tensor.to(self.device, non_blocking=True)
                        for name, tensor in feed.items()}
                hidden = self.network(**feed).last_hidden_state
                vectors = mean_pool(hidden.float(), feed["attention_mask"])
                if not self.cuda:
                    out[positions] = vectors.numpy()
                    continue
                # Waiting for this batch here would leave the GPU idle while Python queues the
                # next one; wait for the previous batch instead, queued behind this one's work.
                host = torch.empty(vectors.shape, dtype=vectors.dtype, pin_memory=True)
                host.copy_(vectors, non_blocking=True)
                copied = torch.cuda.Event()
                copied.record()
                if landing is not None:
                    _land(out, *landing)
                landing = (positions, host, copied)
        if landing is not None:
            _land(out, *landing)
        return out

    def _batches(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, dict]]:
        """(positions in ``texts``, padded model inputs) for every batch, slice by slice."""
        for start in range(0, len(texts), self.slice_size):
            encoded = self.tokenizer.encode_batch(list(texts[start : start + self.slice_size]))
            lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(encoded))
            order = np.argsort(-lengths, kind="stable")
            first = 0
            while first < len(order):
                longest = int(lengths[order[first]])
                size = max(1, min(self.max_batch, self.token_budget // max(longest, 1)))
                picked = order[first : first + size]
                yield start + picked, self._feed([encoded[i] for i in picked], longest)
                first += size

    def _feed(self, encoded: list, longest: int) -> dict:
        import torch

        ids = np.full((len(encoded), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encoded), longest), dtype=np.int64)
        types = np.zeros((len(encoded), longest), dtype=np.int64)
        for row, item in enumerate(encoded):
            n = len(item.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = item.ids, 1, item.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tensors = {name: torch.from_numpy(array) for name, array in feed.items()
                   if name in self.inputs or name == "attention_mask"}
        if self.cuda:  # page-locked, so the copy to the device overlaps the running batch
            tensors = {name: tensor.pin_memory() for name, tensor in tensors.items()}
        return tensors


def _land(out: np.ndarray, positions: np.ndarray, host, copied) -> None:
    copied.synchronize()
    out[positions] = host.numpy()


def _prefetched(batches: Iterator, depth: int = 4) -> Iterator:
    """Run ``batches`` on a producer thread, ``depth`` ahead of the consumer."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                if stop.is_set():
                    return
                handoff.put(item)
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            failure.append(error)
        finally:
            handoff.put(_DONE)

    producer = threading.Thread(target=produce, name="bulk-tokenise", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not _DONE:
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # let a producer blocked on a full queue finish
            try:
                handoff.get_nowait()
            except queue.Empty:
                producer.join(0.01)
    if failure:
        raise failure[0]
