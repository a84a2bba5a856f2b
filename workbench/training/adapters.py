"""LoRA settings for peft, shared by classifiers and generators. (The bottleneck adapter, which peft
lacks, lives in workbench.models.bottleneck: serving loads it too.)"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config import Config


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
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
