"""STDNet in plain PyTorch (no mmcv, no torchvision needed)."""

from stdnet_ros.model.stdnet import STDNet

__all__ = ["STDNet"]
