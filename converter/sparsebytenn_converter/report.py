"""The conversion report: per-layer records, totals, file sizes; JSON and a printed table."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

GROWTH_WARNING = 1.25   # output / input size above which the report warns


@dataclass
class LayerRecord:
    name: str
    kind: str                 # Convolution / FC-as-1x1
    shape: list               # [O, I, kh, kw]
    G: int
    pattern: str              # oc-group / kernel
    sparsity_before: float
    sparsity_after: float
    groups_total: int         # G-groups plus tail units
    groups_kept: int
    macs_before: int          # multiply-adds per output pixel (nonzero weights)
    macs_after: int
    energy_total: float       # sum of squared weights before pruning
    retained_identity: float  # energy kept at this sparsity without rearrangement
    retained: float           # energy kept in the written model
    permuted: bool = False
    tagged: bool = False
    out_order: list | None = None     # output channel i of the written layer is channel out_order[i] of IN
    in_order: list | None = None      # likewise for its input channels (None: unchanged)


@dataclass
class Report:
    input: str
    output: str
    mode: str                 # prune / detect
    G: int
    target: str
    format: str
    rearrange: bool
    sparsity: float | None
    layers: list = field(default_factory=list)
    skipped: list = field(default_factory=list)          # [{"name", "reason"}]
    not_group_shaped: list = field(default_factory=list)
    kept_dense: list = field(default_factory=list)       # pruned too little to tag: [{"name", "group_sparsity"}]
    components: list = field(default_factory=list)       # rearrangement decisions
    rearrangement_check: dict = field(default_factory=dict)  # self_check.py: rearranged vs input in stock MNN
    input_bytes: int = 0
    output_bytes: int = 0
    reused_bytes: int = 0
    appended_bytes: int = 0
    compacted: bool = False       # unreachable bytes (old dense weights) removed
    reclaimed_bytes: int = 0
    compaction_note: str = ""     # why not compacted
    calibration: dict = field(default_factory=dict)  # calibrated pruning: samples, per-layer output errors
    fidelity: dict = field(default_factory=dict)     # dense vs converted on held-out inputs (fidelity.py)
    allocation: dict = field(default_factory=dict)   # --group auto / --target-speedup: what was chosen, why
    warnings: list = field(default_factory=list)     # one line each: results the user probably does not want
    seconds: float = 0.0

    def add_layers(self, work) -> None:
        """One record per chosen layer: what it was, what it is now (the report stage)."""
        import numpy as np

        from .groups import group_shape

        for c in work.chosen:
            w0, w1, G = work.before[c.name], work.W[c.name], work.G[c.name]
            O, I = w0.shape[:2]
            total = _energy(w0)
            gs = group_shape(w1, G)
            n_units = (O // G) * I + (O % G) * I
            self.layers.append(LayerRecord(
                name=c.name, kind=c.type, shape=list(w0.shape), G=G,
                pattern="oc-group" if c.kernel == (1, 1) else "kernel",
                sparsity_before=float(np.count_nonzero(w0 == 0) / w0.size),
                sparsity_after=float(np.count_nonzero(w1 == 0) / w1.size),
                groups_total=n_units, groups_kept=n_units - gs["zero_main_groups"] - gs["zero_tail_units"],
                macs_before=int(np.count_nonzero(w0)), macs_after=int(np.count_nonzero(w1)),
                energy_total=total, retained_identity=work.retained_identity.get(c.name, total),
                retained=_energy(w1),
                permuted=c.name in work.out_permuted, tagged=c.name in work.tagged,
                out_order=_listed(work.out_order.get(c.name)), in_order=_listed(work.in_order.get(c.name))))
            work.drop_pages()   # `before` are views of the input file: one layer's pages at a time

    def totals(self) -> dict:
        w = sum(r.shape[0] * r.shape[1] * r.shape[2] * r.shape[3] for r in self.layers)
        e = sum(r.energy_total for r in self.layers)
        return {
            "layers": len(self.layers),
            "tagged": sum(r.tagged for r in self.layers),
            "weights": w,
            "sparsity_before": (sum(r.sparsity_before * _n(r) for r in self.layers) / w) if w else 0.0,
            "sparsity_after": (sum(r.sparsity_after * _n(r) for r in self.layers) / w) if w else 0.0,
            "macs_before": sum(r.macs_before for r in self.layers),
            "macs_after": sum(r.macs_after for r in self.layers),
            "energy_total": e,
            "retained_identity": sum(r.retained_identity for r in self.layers),
            "retained": sum(r.retained for r in self.layers),
            "retained_identity_fraction": (sum(r.retained_identity for r in self.layers) / e) if e else 1.0,
            "retained_fraction": (sum(r.retained for r in self.layers) / e) if e else 1.0,
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["totals"] = self.totals()
        return d

    def table(self) -> str:
        head, rows = self._layer_rows()
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        widths[0] = min(widths[0], 48)
        fmt = "  ".join("{:<%d}" % w for w in widths)
        lines = [fmt.format(*head)]
        for r in rows:
            name = r[0] if len(r[0]) <= widths[0] else "…" + r[0][-(widths[0] - 1):]
            lines.append(fmt.format(name, *r[1:]))
        lines.append("(* = output channels rearranged; MACs per output pixel; depthwise convolutions "
                     "stay dense)")
        lines += self._how_lines() + self._fidelity_lines()
        lines += self._rearrange_lines()
        for s in self.skipped:
            lines.append(f"not pruned: {s['name']}: {s['reason']}")
        if self.kept_dense:
            lines.append(self._kept_dense_line())
        for s in self.not_group_shaped:
            lines.append(f"sparse but not group-shaped (G={self.G}): {s['name']}: "
                         f"{s['zero_fraction']:.1%} zeros, {s['group_sparsity']:.1%} in whole groups")
        change = f"{self.output_bytes / self.input_bytes:.1%} of the input" if self.input_bytes else ""
        how = (f"{self.reclaimed_bytes:,} unreachable bytes reclaimed" if self.compacted else
               f"not compacted: {self.compaction_note}" if self.compaction_note else "")
        lines.append(f"file size: {self.input_bytes:,} -> {self.output_bytes:,} bytes ("
                     + "; ".join(x for x in (change, how) if x) + ")")
        lines += self.warnings
        return "\n".join(lines)

    def _layer_rows(self) -> tuple[tuple, list[tuple]]:
        layer_err = self.fidelity.get("layers", {})
        head = ("layer", "kind", "shape", "G", "before", "after", "groups kept", "MACs/px before",
                "after", "energy kept", "w/o rearr.", "out err", "tag")
        rows = []
        for r in self.layers:
            err = layer_err.get(r.name)
            rows.append((r.name, r.kind, "x".join(map(str, r.shape)), str(r.G), f"{r.sparsity_before:.1%}",
                         f"{r.sparsity_after:.1%}", f"{r.groups_kept}/{r.groups_total}", f"{r.macs_before:,}",
                         f"{r.macs_after:,}", _pct(r.retained, r.energy_total),
                         _pct(r.retained_identity, r.energy_total), "-" if err is None else f"{err:.3f}",
                         ("sparse" if r.tagged else "dense") + ("*" if r.permuted else "")))
        t = self.totals()
        rows.append(("TOTAL", "", "", "", f"{t['sparsity_before']:.1%}", f"{t['sparsity_after']:.1%}", "",
                     f"{t['macs_before']:,}", f"{t['macs_after']:,}", f"{t['retained_fraction']:.2%}",
                     f"{t['retained_identity_fraction']:.2%}", "", f"{t['tagged']} tagged"))
        return head, rows

    def _kept_dense_line(self) -> str:
        from .groups import MIN_TAG_SPARSITY

        worst = max(r.get("runs_as_sparsity", r["group_sparsity"]) for r in self.kept_dense)
        wider = [r for r in self.kept_dense if r.get("runs_as") != r.get("G")]
        line = (f"kept dense (not tagged): {len(self.kept_dense)} pruned layer(s) with under "
                f"{MIN_TAG_SPARSITY:.0%} of their weights in whole zero groups as the plugin packs them (at most "
                f"{worst:.1%}): the sparse kernel would save too little there to pay for the sparse coding (8 "
                "bytes per kept weight)")
        if wider:
            line += (f"; {len(wider)} of them pruned in small groups, which the plugin packs in wider ones "
                     "(docs/PACKED_FORMAT.md): their zeros keep the accuracy of small groups, and the layers run at "
                     "dense speed in the plugin and in stock MNN")
        return line

    def warn_on_growth(self) -> None:
        """A warning when the output is much larger than the input (MNN's sparse coding)."""
        if self.input_bytes and self.output_bytes > GROWTH_WARNING * self.input_bytes:
            self.warnings.append(
                f"warning: the output is {self.output_bytes / self.input_bytes:.0%} of the input's size: MNN's "
                "sparse coding stores 8 bytes (value and index) per kept weight, so a tagged layer below 50 % "
                "sparsity grows; --format dense keeps the size (and runs dense)")

    def _how_lines(self) -> list[str]:
        out = []
        if self.calibration.get("source"):
            out.append(f"calibration: {self.calibration['source']}")
        a = self.allocation
        if a:
            gs = sorted({v["G"] for v in a["layers"].values()}, reverse=True)
            out.append(f"allocation: G and sparsity per layer by measured damage (G in {a['groups']}, chose "
                       f"{gs}); modelled end-to-end speed-up {a['modelled_speedup']:.2f}x over stock MNN "
                       f"({a['stock_ms']:.1f} ms measured here; kernel table: {a['speed_table_cpu']}), floor "
                       f"{a['min_speedup']:.2f}x ({a['min_speedup_rule']})")
        small = [r.name for r in self.layers if r.tagged and r.G <= 2]
        if small:
            out.append(f"stock MNN: {len(small)} tagged layer(s) with G <= 2 run correctly but on its element-wise "
                       "sparse kernel, slower than its dense conv below ~60 % sparsity; the plugin runs them fast "
                       "(docs/FORMAT.md)")
        return out

    def _fidelity_lines(self) -> list[str]:
        f = self.fidelity
        if not f:
            return []
        parts = [f"{k} {f[key]:{fmt}}" for k, key, fmt in (
            ("top-1 agreement", "top1_agreement", ".1%"), ("top-5 overlap", "top5_overlap", ".1%"),
            ("output cosine", "logit_cosine", ".3f"), ("relative error", "relative_error", ".3f")) if key in f]
        return [f"fidelity vs the dense model on {f['source']}: " + ", ".join(parts)
                + "; out err = each pruned layer's relative output error there"]

    def _rearrange_lines(self) -> list[str]:
        """Which channel groups (a producer and everything sharing its channel order) were
        rearranged, and for each that was not, why: the JSON's `components`, said."""
        if not self.rearrange or not self.components:
            return []
        done = [c for c in self.components if c.get("decision") == "permuted"]
        lines = [f"rearrangement: {len(done)} of {len(self.components)} channel groups permuted"]
        chk = self.rearrangement_check
        if "max_rel_error" in chk:
            lines.append(f"rearranged model checked in stock MNN: every output equal to the input model's within "
                         f"{chk['max_rel_error']:.1e} (relative) on {chk['samples']} random inputs")
        elif "skipped" in chk:
            lines.append(f"rearranged model not checked: {chk['skipped']}")
        for c in self.components:
            if c.get("decision", "").startswith("identity: ") and c.get("producers"):
                names = c["producers"]
                who = names[0] + (f" (+{len(names) - 1} sharing its channels)" if len(names) > 1 else "")
                lines.append(f"not rearranged: {who}: {c['decision'][len('identity: '):]}")
        return lines

    def markdown(self) -> str:
        """The report as Markdown: a summary, the fidelity, the per-layer table, warnings."""
        head, rows = self._layer_rows()
        t = self.totals()
        lines = [f"# Conversion report: {self.input} -> {self.output}", "",
                 f"- mode: {self.mode}, target {self.target}, G {self.G}, format {self.format}, "
                 f"rearrangement {'on' if self.rearrange else 'off'}",
                 f"- sparsity of the pruned layers: {t['sparsity_before']:.1%} -> {t['sparsity_after']:.1%} "
                 f"({t['tagged']} of {t['layers']} layers tagged sparse)",
                 f"- file size: {self.input_bytes:,} -> {self.output_bytes:,} bytes"]
        lines += [f"- {x}" for x in self._how_lines() + self._fidelity_lines()]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        if self.kept_dense:
            lines += ["", self._kept_dense_line() + ": " + ", ".join(f"`{r['name']}`" for r in self.kept_dense)]
        if self._rearrange_lines():
            lines += ["", *[f"- {x}" for x in self._rearrange_lines()]]
        if self.skipped:
            lines += ["", "Not pruned:", ""] + [f"- `{s['name']}`: {s['reason']}" for s in self.skipped]
        if self.warnings:
            lines += ["", *[f"**{w}**" for w in self.warnings]]
        return "\n".join(lines) + "\n"


def _listed(order) -> list | None:
    return None if order is None else [int(i) for i in order]


def _n(r: LayerRecord) -> int:
    return r.shape[0] * r.shape[1] * r.shape[2] * r.shape[3]


def _pct(a: float, b: float) -> str:
    return f"{a / b:.2%}" if b else "-"


def _energy(w, rows: int = 64) -> float:
    """Sum of squares in float64, a few output channels at a time: a float64 copy of a whole
    layer is twice its size (VGG-19's first FC layer: 822 MB, the conversion's peak)."""
    import numpy as np

    total = 0.0
    for i in range(0, len(w), rows):
        sq = w[i:i + rows].astype(np.float64)
        np.square(sq, out=sq)
        total += float(np.sum(sq))
    return total
