"""Experiments that train models: :mod:`.sweep` runs ``colorize ablate-train``'s recipe
comparisons at an equal budget. Scoring a trained model is :mod:`colorize.eval`'s job."""
