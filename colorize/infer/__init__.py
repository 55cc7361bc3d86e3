"""Colouring sketches with a trained model: the :class:`Colorizer` API."""

from colorize.infer.colorizer import DEFAULT_MODEL, Colorizer

__all__ = ["Colorizer", "DEFAULT_MODEL"]
