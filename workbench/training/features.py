"""The `feature` method: frozen-backbone embeddings computed once, a logistic regression on top.

Embeddings are cached by content hash (backbone, pooling, window, texts) as safetensors under
$WORKBENCH_HOME/cache/embeddings, so re-running with other settings costs only the regression.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save

from workbench.config import workbench_home
from workbench.ondisk import write_atomic
from workbench.progress import ProgressCallback, start_stage
from workbench.training.backbones import Backbone, pool
from workbench.training.data import pad_batch


def embedding_cache_key(backbone: Backbone, max_length: int, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{backbone.name}\0{backbone.pooling}\0{max_length}".encode())
    for text in texts:
        digest.update(b"\0" + text.encode("utf-8"))
    return digest.hexdigest()


@torch.no_grad()
def embed(backbone: Backbone, encoded: Sequence[dict[str, list[int]]], batch_size: int = 64,
          progress: ProgressCallback | None = None) -> torch.Tensor:
    """Pooled backbone states of already tokenized texts, in order."""
    backbone.model.eval()
    device = next(backbone.model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))  # little padding
    out = torch.empty(len(encoded), backbone.hidden_size)
    embedding = start_stage(progress, "embedding", len(order))
    for start in range(0, len(order), batch_size):
        ids = order[start:start + batch_size]
        batch = pad_batch([encoded[i] for i in ids], backbone.tokenizer.pad_token_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = backbone.model(**batch).last_hidden_state
        out[ids] = pool(hidden, batch["attention_mask"], backbone.pooling).float().cpu()
        embedding.advance(len(ids))
    return out


def cached_embeddings(backbone: Backbone, max_length: int, texts: Sequence[str],
                      encoded: Sequence[dict[str, list[int]]], progress: ProgressCallback | None = None
                      ) -> torch.Tensor:
    path = workbench_home() / "cache" / "embeddings" / f"{embedding_cache_key(backbone, max_length, texts)}.safetensors"
    if path.is_file():
        return load_file(path)["embeddings"]
    embeddings = embed(backbone, encoded, progress=progress)
    write_atomic(path, save({"embeddings": embeddings.contiguous()}))
    return embeddings


def fit_logistic_regression(features: torch.Tensor, targets: Sequence[int], n_classes: int, seed: int,
                            c: float = 1.0, max_iter: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's logistic regression, returned as the (weight, bias) of an n_classes linear head.

    A binary regression has one weight row w: softmax over (0, w·x + b) is its sigmoid, so the
    head gets rows (0, w)."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    regression.fit(features.numpy(), np.asarray(targets))
    coef = torch.from_numpy(regression.coef_).float()
    intercept = torch.from_numpy(regression.intercept_).float()
    if n_classes == 2:
        coef = torch.cat([torch.zeros_like(coef), coef])
        intercept = torch.cat([torch.zeros_like(intercept), intercept])
    return coef, intercept
