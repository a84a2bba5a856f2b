from workbench.models.methods import GeneratorMethod

# Trained by workbench.preference.policy with TRL; its run saves a `lora` adapter or a `full` model
# (training.preference.adapter), which those methods' entries load.
METHOD = GeneratorMethod(
    name="dpo",
    description="DPO: learns from preferred and rejected replies directly (TRL; training.preference)",
    objective="preference",
)
