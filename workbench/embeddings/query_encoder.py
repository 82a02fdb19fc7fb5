"""A query encoder on ONNX Runtime: the same vectors as the torch model, about four times sooner.

A search embeds one short text, where torch spends most of its time in per-operator overhead.
The model is exported once from the loaded sentence-transformers model (transformer → mean
pooling → L2 norm, fp32, so the vectors match) into a cache folder keyed by the model files, and
checked against torch before it is used. Once checked, a description beside the ``.onnx`` file
holds all a query needs (dimension, max length, tokenizer), so a later process encodes queries
with ONNX Runtime and ``tokenizers`` alone and never imports torch. Bulk encoding stays on torch,
which batches as fast; a chat turn's few new chunks use this too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from workbench.embeddings.pooling import is_mean_pooled, mean_pool

log = logging.getLogger(__name__)

# Below this the export is not the same network: fall back to torch.
_MIN_COSINE = 0.9999
_PROBE = "Where did we say we would meet next Tuesday, and who was bringing the maps?"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "workbench"


def model_fingerprint(model_path: str) -> str:
    """Changes when the weights or the exporter change, so a stale export is never reused."""
    try:  # the exporter's version, read without importing it
        exporter = metadata.version("torch")
    except metadata.PackageNotFoundError:
        exporter = "none"
    digest = hashlib.sha256(f"{exporter}|{_MIN_COSINE}".encode())
    root = Path(model_path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    if not files:
        digest.update(model_path.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Description:
    """What a query needs besides the ``.onnx`` file, written once the export is checked."""

    dimension: int
    max_length: int
    pad_id: int
    pad_token: str
    cosine: float  # against the torch model on the probe text, at least _MIN_COSINE

    @classmethod
    def read(cls, path: Path) -> "Description | None":
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):  # absent, half-written by an old version, damaged
            return None

    def write(self, path: Path) -> None:
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(partial, path)


def _paths(model_path: str, cache_dir: Path | None) -> tuple[Path, Path, Path]:
    """The export, its tokenizer and its description (present only once checked)."""
    stem = (cache_dir or default_cache_dir()) / "onnx" / model_fingerprint(model_path)
    return (stem.with_suffix(".onnx"), stem.with_suffix(".tokenizer.json"),
            stem.with_suffix(".json"))


class OnnxQueryEncoder:
    """One text in, one normalised float32 vector out (thread-safe: ORT sessions are)."""

    def __init__(self, path: Path, tokenizer_json: str, description: Description,
                 threads: int | None = None):
        import onnxruntime as ort

        def session(intra_op: int):
            options = ort.SessionOptions()
            options.intra_op_num_threads = intra_op
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # Idle pool threads would otherwise spin for a while after each run, holding the
            # cores that the index append and the store's commit need next.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        # A query runs on one thread: a search's full-text leg runs beside it on the other
        # core (100k rows, 2 cores: search p50 20 → 16 ms, though the query alone takes 4.8 ms
        # instead of 3.1). A chat turn's few chunks get every core, lazily (2 chunks: 43 → 24 ms).
        self.session = session(1)
        self._session_many = lambda: session(threads or min(os.cpu_count() or 1, 4))
        self._many = None
        self.inputs = [i.name for i in self.session.get_inputs()]
        # The Rust tokenizer behind the model's: the transformers wrapper adds about 1 ms a
        # query. A copy, so that its truncation and padding settings stay ours.
        from tokenizers import Tokenizer

        self.description = description
        self.dimension = description.dimension
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(description.max_length)
        self.tokenizer.enable_padding(pad_id=description.pad_id, pad_token=description.pad_token)
        self._counter = Tokenizer.from_str(tokenizer_json)  # no truncation: whole lengths
        self._counter.no_truncation()
        self._counter.no_padding()

    def encode(self, text: str) -> np.ndarray:
        return self._run(self.session, [text])[0]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Each text's length in the model's tokens, special tokens included."""
        return [len(e.ids) for e in self._counter.encode_batch(texts)]

    def encode_many(self, texts: list[str]) -> np.ndarray:
        """A few texts at once (padding is masked out of the mean, as in the model)."""
        if self._many is None:
            self._many = self._session_many()
        return self._run(self._many, texts)

    def _run(self, session, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        batch = {
            "input_ids": [e.ids for e in encoded],
            "attention_mask": [e.attention_mask for e in encoded],
            "token_type_ids": [e.type_ids for e in encoded],
        }
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        return session.run(None, feed)[0].astype(np.float32, copy=False)


def export(model, path: Path) -> None:
    """Write the transformer with mean pooling and normalisation as one ONNX graph."""
    import torch

    transformer = model[0]
    sample = transformer.tokenizer(["hello world"], return_tensors="pt")
    names = list(sample.keys())

    class Pooled(torch.nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, *inputs):
            batch = dict(zip(names, inputs))
            return mean_pool(self.network(**batch).last_hidden_state, batch["attention_mask"])

    network = Pooled(transformer.auto_model).eval()
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"vector": {0: "batch"}}
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network, tuple(sample[name] for name in names), str(partial), input_names=names,
            output_names=["vector"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    os.replace(partial, path)  # atomic: another process may be exporting the same model


def load_checked(model_path: str, cache_dir: Path | None = None) -> OnnxQueryEncoder | None:
    """The encoder of an export already checked against the model, without loading the model
    (nor torch); None when there is none yet or its files do not open."""
    onnx_path, tokenizer_path, description_path = _paths(model_path, cache_dir)
    description = Description.read(description_path)
    if description is None or description.cosine < _MIN_COSINE:
        return None
    try:
        return OnnxQueryEncoder(onnx_path, tokenizer_path.read_text(encoding="utf-8"), description)
    except Exception as error:  # noqa: BLE001 - damaged or missing: the caller checks again
        log.warning("ONNX query encoder %s does not open (%s); checking it again", onnx_path, error)
        return None


def load(model, model_path: str, cache_dir: Path | None = None) -> OnnxQueryEncoder | None:
    """The cached ONNX encoder for the loaded ``model``, exported and checked on first use;
    None when it cannot be built or does not reproduce the torch vectors (the caller then stays
    on torch). Once checked, :func:`load_checked` opens it without the model."""
    if not is_mean_pooled(model):
        return None
    try:
        import onnxruntime  # noqa: F401

        onnx_path, tokenizer_path, description_path = _paths(model_path, cache_dir)
        transformer = model[0]
        tokenizer = transformer.tokenizer
        tokenizer_json = tokenizer.backend_tokenizer.to_str()
        expected = model.encode([_PROBE], normalize_embeddings=True, convert_to_numpy=True)[0]
        unchecked = Description(int(expected.shape[0]), int(transformer.max_seq_length),
                                int(tokenizer.pad_token_id), str(tokenizer.pad_token), 0.0)
        encoder = None
        if onnx_path.exists():
            try:
                encoder = OnnxQueryEncoder(onnx_path, tokenizer_json, unchecked)
            except Exception:  # a damaged file: export again
                log.warning("re-exporting the damaged ONNX file %s", onnx_path)
        if encoder is None:
            export(model, onnx_path)
            encoder = OnnxQueryEncoder(onnx_path, tokenizer_json, unchecked)
        cosine = float(encoder.encode(_PROBE) @ expected)
    except Exception as error:  # any failure leaves the torch path, which always works
        log.warning("ONNX query encoder unavailable (%s); using torch", error)
        return None
    if cosine < _MIN_COSINE:
        log.warning("ONNX export differs from the model (cosine %.6f); using torch", cosine)
        return None
    checked = Description(**{**asdict(unchecked), "cosine": cosine})
    try:
        partial = tokenizer_path.with_name(f"{tokenizer_path.name}.{os.getpid()}.partial")
        partial.write_text(tokenizer_json, encoding="utf-8")
        os.replace(partial, tokenizer_path)
        checked.write(description_path)  # last: its presence says the other two are good
    except OSError as error:  # a read-only cache: this process still uses the export
        log.warning("cannot record the checked ONNX export (%s)", error)
    encoder.description, encoder.dimension = checked, checked.dimension
    return encoder
