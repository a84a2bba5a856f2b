"""Retrieve, finetune, or both? The cost of each over time, next to the quality `wb compare` measured.

Three ways to answer questions about a corpus that changes:
- **RAG**: embed the corpus once, re-embed it at every update; every query carries k chunks;
- **finetuned**: train once, and again at every update (the facts live in the weights); short prompts;
- **RAG + finetuned**: train a reader once (it learns to answer from context, not the facts), re-embed
  at updates; prompts as long as RAG's.
Costs are busy device-hours at `estimate.price_per_hour` (pay per use); an always-on server costs its
hourly price whatever the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.config import Config
from workbench.estimate.estimator import CHARS_PER_TOKEN, Estimate
from workbench.summary import read_summary

STRATEGIES = ("rag", "finetuned", "rag+finetuned")


@dataclass(frozen=True)
class Corpus:
    chunks: int
    tokens: int
    embedder_params: int

    @classmethod
    def from_index(cls, config: Config, name: str) -> Corpus:
        from workbench.indexing import open_index
        from workbench.models import load_embedder

        index = open_index(name, config.index.root)
        texts = index.chunk_texts()
        embedder = load_embedder(index.embedder_name, config.models.device)
        return cls(len(texts), sum(len(text) for text in texts) // CHARS_PER_TOKEN,
                   sum(p.numel() for p in embedder.parameters()))

    @property
    def mean_chunk_tokens(self) -> int:
        return max(1, self.tokens // max(1, self.chunks))


@dataclass(frozen=True)
class Quality:
    variant: str
    metric: str
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Advice:
    days: list[int]
    cumulative_cost: dict[str, list[float]]  # strategy -> USD spent by each day
    setup_cost: dict[str, float]
    cost_per_day: dict[str, float]
    quality: dict[str, Quality]
    recommendation: str
    assumptions: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "cumulative_cost": self.cumulative_cost, "setup_cost": self.setup_cost,
                "cost_per_day": self.cost_per_day, "recommendation": self.recommendation,
                "assumptions": self.assumptions,
                "quality": {name: q.__dict__ for name, q in self.quality.items()}}


def advise(config: Config, estimate: Estimate, corpus: Corpus | None = None,
           experiment: Path | None = None) -> Advice:
    """Costs of the three strategies over `estimate.horizon_days`, the quality an experiment folder
    measured for them (if given), and a recommendation in plain words."""
    section = config.estimate
    price = estimate.setting["price_per_hour"] / 3600  # USD per busy device-second
    rate = estimate.device.peak_flops * estimate.setting["utilisation"]
    embed_seconds = 2 * corpus.embedder_params * corpus.tokens / rate if corpus else 0.0
    train_cost = estimate.train_seconds * price
    updates_per_day = section.updates_per_month / 30
    per_query = {"rag": estimate.serving.rag_seconds_per_query,
                 "finetuned": estimate.serving.finetuned_seconds_per_query,
                 "rag+finetuned": estimate.serving.rag_seconds_per_query}
    setup = {"rag": embed_seconds * price, "finetuned": train_cost, "rag+finetuned": embed_seconds * price + train_cost}
    updates = {"rag": embed_seconds * price, "finetuned": train_cost, "rag+finetuned": embed_seconds * price}
    per_day = {name: section.queries_per_day * per_query[name] * price + updates_per_day * updates[name]
               for name in STRATEGIES}
    days = list(range(section.horizon_days + 1))
    cumulative = {name: [setup[name] + per_day[name] * day for day in days] for name in STRATEGIES}
    quality = _measured_quality(experiment) if experiment else {}
    assumptions = [
        f"{section.queries_per_day:g} queries a day, {section.updates_per_month:g} document updates a month, "
        f"over {section.horizon_days} days",
        f"{estimate.device.name} at ${estimate.setting['price_per_hour']:.2f} an hour, billed only while busy",
        f"RAG prompts {estimate.serving.rag_prompt_tokens} tokens ({estimate.setting['k']} chunks of "
        f"{estimate.setting['chunk_tokens']}), finetuned prompts {estimate.serving.finetuned_prompt_tokens}",
        f"training {estimate.setting['epochs']} epoch(s) of {estimate.setting['dataset_tokens']:,} tokens with "
        f"{estimate.setting['method']}; the finetuned model is retrained at every update, the RAG reader is not",
    ]
    return Advice(days, cumulative, setup, per_day, quality, _recommend(cumulative, per_day, setup, quality),
                  assumptions)


def _measured_quality(folder: Path) -> dict[str, Quality]:
    """The best variant of each strategy in a `wb compare` results folder, by its primary metric."""
    summary = read_summary(folder)
    metric = summary.primary_metric
    best: dict[str, Quality] = {}
    for row in summary.strategies:
        strategy = row.kind or row.strategy.split("[")[0]  # "rag+finetuned[context=gold]" -> "rag+finetuned"
        value = getattr(row, metric, None)
        if strategy in STRATEGIES and value is not None and (strategy not in best or value > best[strategy].value):
            best[strategy] = Quality(row.strategy, metric, value, getattr(row, f"{metric}_low"), getattr(row, f"{metric}_high"))
    return best


def _recommend(cumulative: dict[str, list[float]], per_day: dict[str, float], setup: dict[str, float],
               quality: dict[str, Quality]) -> str:
    """One paragraph: the cheapest over the horizon, when the others would catch up, and what the
    measured quality says about paying more."""
    horizon = len(next(iter(cumulative.values()))) - 1
    totals = {name: costs[-1] for name, costs in cumulative.items()}
    cheapest = min(totals, key=totals.get)
    parts = [f"Over {horizon} days, {cheapest} costs least (${totals[cheapest]:,.2f}; "
             + ", ".join(f"{name} ${total:,.2f}" for name, total in totals.items() if name != cheapest) + ")."]
    for name in STRATEGIES:
        if name != cheapest and per_day[name] < per_day[cheapest]:
            day = (setup[name] - setup[cheapest]) / (per_day[cheapest] - per_day[name])
            parts.append(f"{name} costs less per day (${per_day[name]:,.2f} against ${per_day[cheapest]:,.2f}) "
                         f"and would break even after {day:,.0f} days.")
    if quality:
        best = max(quality, key=lambda name: quality[name].value)
        q = quality[best]
        others = ", ".join(f"{name} {quality[name].value:.3f}" for name in quality if name != best)
        parts.append(f"Measured quality: {best} scores highest ({q.metric} {q.value:.3f} [{q.low:.3f}, {q.high:.3f}]"
                     + (f"; {others}" if others else "") + ").")
        if best != cheapest and cheapest in quality and q.low <= quality[cheapest].high:
            parts.append(f"Its interval overlaps {cheapest}'s, so the measured gain may be noise: {cheapest} is "
                         f"the safer bet unless a larger test set shows otherwise.")
        elif best != cheapest:
            parts.append(f"Pay for {best} if that gain is worth ${totals[best] - totals[cheapest]:,.2f} more over "
                         f"the horizon.")
        else:
            parts.append(f"{best} is both the cheapest and the best measured: choose it.")
    else:
        parts.append("No quality measured yet: run `wb compare` on your data before choosing on cost alone.")
    return " ".join(parts)
