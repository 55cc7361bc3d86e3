"""Which torch device to use; the one rule shared by training and colouring."""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "DeviceError", "pick_device"]

DEVICES = ("auto", "cuda", "mps", "cpu")


class DeviceError(ValueError):
    """The device asked for is not on this machine."""


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; any other name is taken as given
    (``cuda:1`` too), and refused with :class:`DeviceError` when it is not here."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError as e:
            raise DeviceError(f"--device {name}: not a device name ({e}). Use one of {', '.join(DEVICES)}.") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available here. Use --device cpu or auto.")
        if device.type == "mps" and not _mps_available():
            raise DeviceError(f"--device {name}: Apple's MPS is not available here. Use --device cpu or auto.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")
