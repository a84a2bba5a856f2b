"""The bundled demo corpus: six SQuAD v1.1 articles (CC BY-SA 4.0, see data/ATTRIBUTION.md)."""

from __future__ import annotations

import functools
from pathlib import Path

from workbench.corpus.loaders import load_squad
from workbench.corpus.records import Corpus

DEMO_CORPUS_PATH = Path(__file__).resolve().parent / "data" / "squad-demo.json"


@functools.lru_cache(maxsize=1)
def load_demo_corpus() -> Corpus:
    return load_squad(DEMO_CORPUS_PATH)
