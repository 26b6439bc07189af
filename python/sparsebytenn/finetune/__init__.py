"""Fine-tuning with the converter's group masks (PyTorch), for users who can train.

One-shot pruning costs accuracy; a short fine-tune that keeps the pruned groups at
zero wins it back. The masks come from a model the converter wrote, so the groups
are exactly the ones the kernels skip, and the fine-tuned model, exported and
converted with `--detect`, is tagged layer for layer:

    from sparsebytenn.finetune import group_masks, MaskedTraining
    masks = group_masks("pruned.mnn", torch_model)     # {module name: bool mask}
    keep = MaskedTraining(torch_model, masks)          # zeroes them now, and after every step
    ... train: loss.backward(); opt.step(); keep.apply() ...

`python -m sparsebytenn.finetune` runs the whole path on EfficientNet-Lite0 and
Fashion-MNIST (see --help).
"""
from .masks import conv_modules, group_masks
from .train import MaskedTraining, accuracy, train

__all__ = ["conv_modules", "group_masks", "MaskedTraining", "accuracy", "train"]
