"""fp16 accumulation error of the f16_gspmm_*__neonfp16 kernels on MobileNet-V1-like 1x1
layers at 30 % (groups of 8), against float64, next to the error of one final fp16
rounding (what fp32 accumulation would give at best). Runs under qemu-aarch64 with the
aarch64 `_kernels` module (correctness only; nothing here is timed):

  R=$(scripts/arm64root.sh path) V=$(scripts/arm64root.sh venv)
  SBNN_KERNEL_BACKEND=module:$PWD/build/kernels-aarch64/python/bindings QEMU_CPU=neoverse-n1 \
    qemu-aarch64 -L $R $V/bin/python docs/results/f16_accumulation.py
"""
import sys, numpy as np
sys.path.insert(0, "tests/kernels")
import kernel_backend
from kernel_reference import conv2d_reference, to_packed, from_packed, sparse_weights
K = kernel_backend.load()
for (o, i, h) in [(512, 512, 14), (1024, 1024, 7), (128, 128, 56)]:
    rng = np.random.default_rng(0)
    w = sparse_weights(rng, o, i, 1, 1, 8, 0.3)
    w = (w / np.sqrt(0.7 * i)).astype(np.float16).astype(np.float32)
    b = (0.1 * rng.standard_normal(o)).astype(np.float16).astype(np.float32)
    x = np.abs(rng.standard_normal((1, i, h, h))).astype(np.float16)   # post-ReLU inputs
    y = from_packed(K.PackedConv(w, b, 8, 0.0, np.inf, "neonfp16").run(to_packed(x, 8).astype(np.float16), pack=8), o)[0]
    ref = conv2d_reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), lo=0.0)
    once = ref.astype(np.float16).astype(np.float64)          # fp32-or-better accumulation, one rounding at the end
    scale = np.abs(ref).max()
    e16 = np.abs(y.astype(np.float64) - ref); e1 = np.abs(once - ref)
    print(f"{h}x{h}_{i}-{o} 30%: fp16 accumulation max|err|/max|ref| {e16.max()/scale:.2e} (mean {e16.mean()/scale:.2e}); "
          f"one final fp16 rounding {e1.max()/scale:.2e} (mean {e1.mean()/scale:.2e}); K={int(0.7*i)}")
