"""The wasm32 build of the kernels (plugin/kernels/wasm/sbnn_wasm_exports.cc)
behind the same Python interface as sparsebytenn._kernels, via wasmtime, so the
shared testers run unchanged against it. C statuses become ValueError with the
kernel's own status text; only what the flat C API cannot see (numpy dtype,
contiguity, array ranks) is checked here."""
import struct

import numpy as np
import wasmtime


class _Module:
    def __init__(self, path):
        # Relaxed SIMD explicitly on (wasmtime >= 15 defaults to it, older ones do not):
        # the relaxed module's f32x4.relaxed_madd fuses here on x86 with FMA.
        cfg = wasmtime.Config()
        cfg.wasm_relaxed_simd = True
        engine = wasmtime.Engine(cfg)
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        self.store.set_wasi(wasmtime.WasiConfig())
        inst = linker.instantiate(self.store, wasmtime.Module.from_file(engine, str(path)))
        self.ex = inst.exports(self.store)
        self.mem = self.ex["memory"]
        if "_initialize" in self.ex:
            self.ex["_initialize"](self.store)

    def call(self, name, *args):
        return self.ex[name](self.store, *args)

    def alloc(self, nbytes):
        p = self.call("wmalloc", max(1, nbytes))
        if not p:
            raise MemoryError("wasm malloc failed")
        return p

    def write(self, ptr, data: bytes):
        self.mem.write(self.store, data, ptr)

    def read(self, ptr, n):
        return self.mem.read(self.store, ptr, ptr + n)

    def cstr(self, ptr):
        out = bytearray()
        while True:
            chunk = self.read(ptr + len(out), 32)
            i = chunk.find(b"\0")
            if i >= 0:
                return (bytes(out) + chunk[:i]).decode()
            out += chunk

    def put_str(self, s):
        b = s.encode() + b"\0"
        p = self.alloc(len(b))
        self.write(p, b)
        return p

    def check(self, status, during):
        if status != 0:
            raise ValueError(f"{during}: {self.cstr(self.call('status_string', status))}")


def _f32(a, name):
    if a is None:
        raise ValueError(f"{name} is None; pass a float32 numpy array")
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    if a.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return a


class PackedConv:
    def __init__(self, m, weights, bias=None, group_size=8, output_min=-np.inf, output_max=np.inf, isa=""):
        self.m = m
        if weights is None:
            raise ValueError("weights is None; pass a float32 numpy array")
        weights = np.asarray(weights)
        if weights.ndim != 4:
            raise ValueError(f"weights must be 4-D OIHW, got {weights.ndim}-D")
        w = _f32(weights, "weights")
        if np.isnan(output_min) or np.isnan(output_max) or output_min > output_max:
            raise ValueError("need output_min <= output_max (no NaN)")
        if isa and not m.call("isa_available", m.put_str(isa)):
            raise ValueError(f"ISA '{isa}' is not compiled in or not supported by this CPU")
        if bias is not None:
            bias = np.asarray(bias)
            if bias.ndim != 1 or bias.shape[0] != w.shape[0]:
                raise ValueError(f"bias must be 1-D with O = {w.shape[0]} elements")
            bias = _f32(bias, "bias")
        pw = m.alloc(w.nbytes)
        m.write(pw, w.tobytes())
        pb = 0
        if bias is not None:
            pb = m.alloc(bias.nbytes)
            m.write(pb, bias.tobytes())
        pisa = m.put_str(isa) if isa else 0
        out = m.alloc(4)
        st = m.call("pack", *[int(d) for d in w.shape], int(group_size), float(output_min), float(output_max),
                    pisa, pw, pb, out)
        for p in (pw, pb, pisa):
            if p:
                m.call("wfree", p)
        if st != 0:
            m.call("wfree", out)
            # The C API reports G as its own status; keep the binding's wording.
            m.check(st, "pack" if st != 3 else "pack: group_size")
        self.handle = struct.unpack("<I", m.read(out, 4))[0]
        m.call("wfree", out)
        ip = m.alloc(36)
        m.check(m.call("info", self.handle, ip), "info")
        v = struct.unpack("<9i", m.read(ip, 36))
        m.call("wfree", ip)
        self.info = dict(out_channels=v[0], in_channels=v[1], kernel=(v[2], v[3]), group_size=v[4],
                         nonzero_blocks=v[5], nonzero_macs_per_pixel=v[6],
                         variant=m.cstr(v[7] & 0xFFFFFFFF), isa=m.cstr(v[8] & 0xFFFFFFFF))

    def __del__(self):
        try:
            self.m.call("free_packed", self.handle)
        except Exception:
            pass

    def run(self, x, stride=(1, 1), dilation=(1, 1), padding=(0, 0, 0, 0), pack=1, out_pack=0, threads=1,
            executor="builtin"):
        m, info = self.m, self.info
        out_pack = out_pack or pack
        for p in (pack, out_pack):
            if p not in (1, 4, 8, 16):
                raise ValueError(f"pack must be 1, 4, 8 or 16, got {p}")
        padding = list(padding)
        if len(padding) == 2:
            padding = padding * 2
        if len(padding) != 4:
            raise ValueError("padding must be (top, left) or (top, left, bottom, right)")
        if not 1 <= threads <= 256:
            raise ValueError("threads must be in 1..256")
        x = _f32(x, "input")
        c, o = info["in_channels"], info["out_channels"]
        if pack == 1:
            if x.ndim != 4:
                raise ValueError("NCHW input must be 4-D (N, C, H, W)")
            if x.shape[1] != c:
                raise ValueError(f"input has {x.shape[1]} channels, weights expect {c}")
            n, h, w = x.shape[0], x.shape[2], x.shape[3]
        else:
            if x.ndim != 5:
                raise ValueError(f"NC{pack}HW{pack} input must be 5-D (C/P, N, H, W, P)")
            if x.shape[4] != pack:
                raise ValueError(f"last input dimension must equal pack = {pack}")
            if x.shape[0] != -(-c // pack):
                raise ValueError(f"input has {x.shape[0]} channel blocks, weights expect {-(-c // pack)}")
            n, h, w = x.shape[1], x.shape[2], x.shape[3]
        if min(stride) < 1 or min(dilation) < 1:
            raise ValueError("stride and dilation must be >= 1")
        if min(padding) < 0:
            raise ValueError("padding must be >= 0")
        kh, kw = info["kernel"]
        sh = h + padding[0] + padding[2] - dilation[0] * (kh - 1) - 1
        sw = w + padding[1] + padding[3] - dilation[1] * (kw - 1) - 1
        if sh < 0 or sw < 0:
            raise ValueError("kernel (with dilation) is larger than the padded input")
        oh, ow = sh // stride[0] + 1, sw // stride[1] + 1
        shape = (n, o, oh, ow) if out_pack == 1 else (-(-o // out_pack), n, oh, ow, out_pack)
        out_bytes = int(np.prod(shape)) * 4
        pin, pout = m.alloc(x.nbytes), m.alloc(out_bytes)
        try:
            m.write(pin, x.tobytes())
            st = m.call("run", self.handle, n, h, w, oh, ow, stride[0], stride[1], dilation[0], dilation[1],
                        *padding, pin, pack, pout, out_pack, threads)
            m.check(st, "run")
            return np.frombuffer(m.read(pout, out_bytes), np.float32).reshape(shape).copy()
        finally:
            m.call("wfree", pin)
            m.call("wfree", pout)


class WasmKernels:
    """Module-like object: PackedConv, variants(), isa_available(), default_isa()."""

    def __init__(self, path):
        self._m = _Module(path)

    def PackedConv(self, weights, bias=None, group_size=8, output_min=-np.inf, output_max=np.inf, isa=""):
        if group_size not in (1, 2, 4, 8, 16):
            raise ValueError(f"group_size must be 1, 2, 4, 8 or 16, got {group_size}")
        return PackedConv(self._m, weights, bias, group_size, output_min, output_max, isa)

    def variants(self):
        m, out = self._m, []
        p = m.alloc(20)
        for i in range(m.call("variant_count")):
            m.check(m.call("variant_get", i, p), "variant")
            name, isa, g, t, a = struct.unpack("<5i", m.read(p, 20))
            out.append(dict(name=m.cstr(name), isa=m.cstr(isa), group_size=g, tile=t, available=bool(a)))
        m.call("wfree", p)
        return out

    def isa_available(self, isa):
        p = self._m.put_str(isa)
        try:
            return bool(self._m.call("isa_available", p))
        finally:
            self._m.call("wfree", p)

    def default_isa(self):
        return self._m.cstr(self._m.call("default_isa"))
