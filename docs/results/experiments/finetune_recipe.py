"""One fine-tuning recipe variant at sparsity S, 600 steps: one-shot calibrated G=8 (the
converter), the masks and warm start of `sparsebytenn finetune`, then Recipe(**changes);
test accuracy of the torch model on all 10,000 test images (a quick look: the committed
numbers of `sparsebytenn finetune` come from stock MNN). Appends one JSON line.
Run: .venv/bin/python docs/results/experiments/finetune_recipe.py 0.5 '{"alpha": 0.5, "temperature": 2.0}' TAG
"""
import json, sys, time, tempfile
from pathlib import Path
import numpy as np, torch
from sparsebytenn.finetune.pipeline import _convert
from sparsebytenn.finetune.user_model import open_user_model
from sparsebytenn.finetune.data import TrainingData, calibration_inputs, test_set
from sparsebytenn.finetune.masks import converter_masks
from sparsebytenn.finetune.warm_start import load_calibrated
from sparsebytenn.finetune.recipe import Recipe
from sparsebytenn.finetune.train import fine_tune
from sparsebytenn.finetune.evaluate import torch_correct

S = float(sys.argv[1]); changes = json.loads(sys.argv[2]); tag = sys.argv[3]
torch.set_num_threads(2)
user = open_user_model("mobilenet-v1-fmnist", progress=False)
images, labels = test_set(user.name, None)
tmp = Path(tempfile.mkdtemp(prefix="sbnn-ftexp-"))
oneshot = tmp / f"oneshot-{S}.mnn"
report = _convert(user.mnn, oneshot, sparsity=S, group=8, calibration=calibration_inputs(user.name), format="sparse",
                  progress=False, force=True)
teacher = user.torch()
masks = converter_masks(oneshot, report, teacher)
student = user.torch()
load_calibrated(student, user.mnn, oneshot, report, masks)
base = torch_correct(student, user.name, images, labels).mean()
dense = torch_correct(user.torch(), user.name, images, labels).mean()
r = Recipe().with_changes(**changes)
data = TrainingData(user.name)
t = time.time()
info = fine_tune(student, teacher, data, r, masks, progress=False)
acc = torch_correct(student, user.name, images, labels)
res = dict(tag=tag, S=S, changes=changes, recipe=r.to_dict(), dense=float(dense), oneshot=float(base), tuned=float(acc.mean()),
           drop=round(100 * (dense - acc.mean()), 2), final_loss=info["final_loss"], seconds=info["seconds"])
print(json.dumps(res))
np.save(tmp / f"correct-{tag}.npy", acc)
open(Path(__file__).with_name("finetune-recipes-600steps.jsonl"), "a").write(json.dumps(res) + "\n")
