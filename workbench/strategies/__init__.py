"""The answering strategies (zero-shot, few-shot, RAG, finetuned, RAG + finetuned), one interface,
one `Answer` record; build them by name with `StrategyFactory`."""

from workbench.strategies.answer import Answer, Demonstration, Source
from workbench.strategies.base import Context, EmptyQuestion, Prompted, Question, Strategy, ZeroShot
from workbench.strategies.factory import (
    STRATEGY_NAMES,
    StrategyFactory,
    StrategyOptions,
    StrategyOutcome,
    parse_strategy_names,
)
from workbench.strategies.few_shot import SELECTIONS, FewShot, FewShotError
from workbench.strategies.finetuned import Finetuned, RagFinetuned
from workbench.strategies.rag import Rag
from workbench.strategies.side_by_side import answer_together, stream_together

__all__ = [
    "SELECTIONS",
    "STRATEGY_NAMES",
    "Answer",
    "Context",
    "Demonstration",
    "EmptyQuestion",
    "FewShot",
    "FewShotError",
    "Finetuned",
    "Prompted",
    "Question",
    "Rag",
    "RagFinetuned",
    "Source",
    "Strategy",
    "StrategyFactory",
    "StrategyOptions",
    "StrategyOutcome",
    "ZeroShot",
    "answer_together",
    "parse_strategy_names",
    "stream_together",
]
