"""LoRA settings for peft, shared by classifiers and generators. (The bottleneck adapter, which peft
lacks, lives in workbench.models.bottleneck: serving loads it too.)"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config import Config, default_setting


@dataclass(frozen=True)
class LoraSettings:
    """`training.lora`; the defaults are default.yaml's."""

    r: int = default_setting("training.lora.r")
    alpha: int = default_setting("training.lora.alpha")
    dropout: float = default_setting("training.lora.dropout")
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture

    @classmethod
    def from_config(cls, config: Config) -> LoraSettings:
        lora = config.training.lora
        return cls(lora.r, lora.alpha, lora.dropout, tuple(lora.target_modules) if lora.target_modules else None)


def lora_config(settings: LoraSettings, task_type: str | None):
    from peft import LoraConfig

    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=list(settings.target_modules) if settings.target_modules else None,
                      task_type=task_type)
