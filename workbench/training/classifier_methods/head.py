from workbench.training.classifier_methods import ClassifierMethod

METHOD = ClassifierMethod(
    name="head",
    description="output layer: frozen backbone, a new linear head trained by gradient descent",
)
