"""Sentence-transformers embeddings: normalized float32 rows, so inner product is cosine similarity."""

from __future__ import annotations

import numpy as np

from workbench.models import load_embedder
from workbench.progress import ProgressCallback, start_stage

REPORT_EVERY_BATCHES = 8  # texts are encoded (length-sorted) in groups of this many batches between reports


def embed_texts(texts: list[str], embedder: str = "minilm", batch_size: int = 64,
                progress: ProgressCallback | None = None) -> np.ndarray:
    """One L2-normalized float32 row per text (shape `(len(texts), dim)`); `progress` hears of each
    group of batches (stage "embedding", counted in texts)."""
    model = load_embedder(embedder)
    if not texts:
        return np.zeros((0, embedder_dimension(embedder)), dtype=np.float32)
    texts, group = list(texts), batch_size * REPORT_EVERY_BATCHES
    parts = []
    embedding = start_stage(progress, "embedding", len(texts))
    for start in range(0, len(texts), group):
        batch = texts[start:start + group]
        parts.append(model.encode(batch, batch_size=batch_size, show_progress_bar=False,
                                  convert_to_numpy=True, normalize_embeddings=True))
        embedding.advance(len(batch))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def embedder_dimension(embedder: str) -> int:
    return int(load_embedder(embedder).get_embedding_dimension())


def embedder_window(embedder: str) -> int:
    """How many tokens (special tokens included) the embedder reads; the rest of a text is cut off."""
    return int(load_embedder(embedder).max_seq_length)


def embedder_tokenizer(embedder: str):
    return load_embedder(embedder).tokenizer


def count_truncated(texts: list[str], embedder: str) -> int:
    """How many texts are longer than the embedder's window (their tail would not be embedded)."""
    if not texts:
        return 0
    window = embedder_window(embedder)
    lengths = embedder_tokenizer(embedder)(list(texts), add_special_tokens=True, truncation=False,
                                           return_length=True, verbose=False)["length"]
    return sum(length > window for length in lengths)
