"""Preference tuning with TRL: a reward model (`wb train reward`), DPO and RLOO (`wb train generator
--method dpo | rloo`), in run folders like every other run. See docs/preference.md."""

PREFERENCE_METHODS = ("dpo", "rloo")  # generator methods that learn from preferences (torch-free constant)
