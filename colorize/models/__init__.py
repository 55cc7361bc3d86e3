"""Networks: the U-Net generator, the PatchGAN discriminator and the GAN losses."""
