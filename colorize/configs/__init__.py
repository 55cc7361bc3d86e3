"""Training presets, read by ``colorize train --config NAME``."""
