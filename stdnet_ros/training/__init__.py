"""Training STDNet: synthetic clips on the fly, the published loss and recipe, DDP under torchrun."""
