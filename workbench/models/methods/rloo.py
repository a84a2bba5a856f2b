from workbench.models.methods import GeneratorMethod

# Trained by workbench.preference.policy with TRL; its run saves a `lora` adapter or a `full` model
# (training.preference.adapter), which those methods' entries load.
METHOD = GeneratorMethod(
    name="rloo",
    description="RLOO: samples replies, scores them with a reward model run, reinforces the better ones (TRL)",
    objective="preference",
)
