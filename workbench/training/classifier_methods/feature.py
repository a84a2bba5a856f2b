from workbench.training.classifier_methods import ClassifierMethod

METHOD = ClassifierMethod(
    name="feature",
    description="feature-based: frozen backbone, embeddings computed once, logistic regression on top (scikit-learn)",
    gradient=False,
)
