"""The generation engine every answering strategy goes through: prompt templates, the context budget,
batched and streamed generation, PEFT adapters on the shared base model (or extra copies of it), short-answer clean-up."""

from workbench.generation.adapters import (
    AdapterConflict,
    AdapterError,
    AdapterSet,
    LoadedAdapter,
    adapters_for,
    parse_adapter_spec,
    place_adapter,
)
from workbench.generation.budget import FittedPrompt, QuestionTooLong, fit_prompt
from workbench.generation.engine import Generation, GenerationEngine, GenerationSettings
from workbench.generation.postprocess import Cleaned, clean_answer
from workbench.generation.prompts import (
    DEFAULT_PROMPTS_PATH,
    PostprocessRules,
    PromptError,
    PromptTemplates,
    load_prompts,
)

__all__ = [
    "DEFAULT_PROMPTS_PATH",
    "AdapterConflict",
    "AdapterError",
    "AdapterSet",
    "Cleaned",
    "FittedPrompt",
    "Generation",
    "GenerationEngine",
    "GenerationSettings",
    "LoadedAdapter",
    "PostprocessRules",
    "PromptError",
    "PromptTemplates",
    "QuestionTooLong",
    "adapters_for",
    "clean_answer",
    "fit_prompt",
    "load_prompts",
    "parse_adapter_spec",
    "place_adapter",
]
