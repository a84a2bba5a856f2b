"""Preference tuning with TRL: a reward model (`wb train reward`), DPO and RLOO (`wb train generator
--method dpo | rloo`), in run folders like every other run. See docs/preference.md."""

from workbench.models.methods import generator_methods

# generator methods that learn from preferences, from the torch-free registry of methods
PREFERENCE_METHODS = tuple(method.name for method in generator_methods() if method.objective == "preference")
