"""Quality of labels: how good they are, where they are wrong, and repairing them before training.

* :mod:`.agreement`: span P/R/F1 between annotators, Cohen's kappa and Krippendorff's alpha on tokens.
* :mod:`.alttest`: the Alternative Annotator Test (may the LLM replace the human annotators?).
* :mod:`.errors`: cross-fitted students flag span-level label errors (spurious, type, boundary, missing).
* :mod:`.repair`: drop, fix and add spans from the flags; weigh spans by confidence (the distill quality stage).
* :mod:`.page`: an HTML page of the worst documents with their flags and suggestions.
"""
