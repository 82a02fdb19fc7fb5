"""Mean pooling as all-MiniLM-L6-v2 does it, for the encoders that run the network themselves
(the bulk encoder, the ONNX export and the one-query torch path)."""

from __future__ import annotations


def is_mean_pooled(model) -> bool:
    """Transformer → mean pooling → normalise: the shape the fast paths reproduce by hand."""
    names = [type(module).__name__ for module in model]
    if names != ["Transformer", "Pooling", "Normalize"]:
        return False
    pooling = model[1].get_config_dict()
    return pooling.get("pooling_mode") == "mean" or bool(pooling.get("pooling_mode_mean_tokens"))


def mean_pool(hidden, attention_mask):
    """The model's pooling and normalisation (torch tensors): padding is left out of the mean."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)
