"""Finetuning: text classifiers (feature, head, last-n, full, LoRA) and generators (LoRA, prompt
tuning, prefix tuning, IA3, bottleneck adapters, full), each run in its own resumable folder."""
