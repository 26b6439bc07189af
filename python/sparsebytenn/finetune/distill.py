"""Knowledge distillation from the dense model (Hinton et al.): the student matches the
teacher's softened outputs as well as the labels."""
from __future__ import annotations


def kd_loss(student, teacher, labels, temperature: float, alpha: float):
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels),
    averaged over the batch. T^2 keeps the soft term's gradients on the scale of the hard one's."""
    import torch.nn.functional as F

    t = temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student, labels)
    return alpha * t * t * soft + (1.0 - alpha) * hard
