"""colorize: colour line art from text tags.

A tag-conditioned pix2pix (U-Net generator, PatchGAN discriminator) trained on
illustration / line-art / tag triples, with a built-in dataset made from OpenMoji.

    $ colorize data openmoji --out data/openmoji
"""

__version__ = "0.1.0"
