"""Measuring models: image metrics, tag faithfulness (variant accuracy) and tag ablations."""
