"""Fine-tuning that recovers what pruning cost (PyTorch), for users who can train.

The converter chooses the groups (calibrated, channels rearranged across the
network); the torch model is pruned toward them gradually, in its own channel
order, with knowledge distillation from the dense model; exported and tagged with
`convert --detect` (which regroups the scattered groups), the result runs on the
plugin layer for layer:

    from sparsebytenn.finetune import converter_masks, fine_tune, Recipe
    report = convert(dense_mnn, pruned_mnn, sparsity=0.5, calibration=x)
    masks = converter_masks(pruned_mnn, report, torch_model)   # [LayerMask], torch order
    fine_tune(student, teacher, TrainingData(name), Recipe(), masks)

`python -m sparsebytenn.finetune` runs the whole path on a zoo user model and
compares it with honest references (see --help).
"""
from .data import TrainingData
from .distill import kd_loss
from .masked import MaskedWeights
from .masks import LayerMask, conv_modules, converter_masks, to_torch_order, zero_groups
from .recipe import Recipe
from .train import fine_tune

__all__ = ["TrainingData", "kd_loss", "MaskedWeights", "LayerMask", "conv_modules", "converter_masks",
           "to_torch_order", "zero_groups", "Recipe", "fine_tune"]
