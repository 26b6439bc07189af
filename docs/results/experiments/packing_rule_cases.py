"""Which packing a speed table's rules pick for 15 layers whose every packing was timed
(AVX-512, kernels alone, 1 thread, 2026-12-08 01:33 and 02:17 UTC: group_choice_check.py and
the same loop on five more layers; for an AVX2 table the ten layers of `group_choice_check.py
avx2`), against the fastest: the table rule (the least interpolated
time of the table's nearest layer, the converter's pricing before 81a4dcb) and the two-term rule
(SpeedTable.packing_group, = sbnn_gsparse_fastest_group with that table's fits compiled in).
python packing_rule_cases.py [TABLE.json]"""
import sys

from sparsebytenn_converter.speed_model import TABLES, SpeedTable

t = SpeedTable.load(sys.argv[1] if len(sys.argv) > 1 else TABLES / "x86-avx512-intel.json")
cases = [  # hw, in, out, G pruned, sparsity, measured ms per packing G
 (32,16,32,1,.67,{1:.026,2:.025,4:.028,8:.012,16:.015}),
 (32,32,32,1,.68,{1:.030,2:.028,4:.030,8:.019,16:.022}),
 (16,45,40,1,.67,{1:.013,2:.012,4:.013,8:.010,16:.012}),
 (56,32,64,1,.8,{1:.148,2:.125,4:.139,8:.082,16:.106}),
 (56,64,128,1,.9,{1:.305,2:.270,4:.313,8:.214,16:.316}),
 (56,64,128,2,.9,{2:.249,4:.261,8:.146,16:.246}),
 (28,128,128,1,.9,{1:.100,2:.098,4:.115,8:.104,16:.167}),
 (28,256,256,1,.9,{1:.281,2:.285,4:.348,8:.377,16:.627}),
 (14,512,512,1,.9,{1:.254,2:.252,4:.311,8:.382,16:.683}),
 (14,512,512,2,.9,{2:.170,4:.196,8:.254,16:.528}),
 (14,512,512,2,.7,{2:.380,4:.451,8:.514,16:.804}),
 (14,512,512,4,.5,{4:.458,8:.629,16:.972}),
 (7,1024,1024,4,.65,{4:.552,8:.627,16:1.179}),
 (7,1024,1024,4,.9,{4:.194,8:.223,16:.503}),
 (112,32,64,2,.9,{2:.806,8:.319}),
]
AVX2_CASES = [
 (32,16,32,1,.67,{1:.049,2:.040,4:.017,8:.019,16:.021}),
 (32,32,32,1,.68,{1:.046,2:.038,4:.026,8:.029,16:.031}),
 (16,45,40,1,.67,{1:.021,2:.019,4:.014,8:.016,16:.015}),
 (56,32,64,1,.8,{1:.314,2:.282,4:.166,8:.220,16:.230}),
 (56,64,128,1,.9,{1:.643,2:.589,4:.391,8:.550,16:.725}),
 (56,64,128,2,.9,{2:.518,4:.272,8:.378,16:.546}),
 (28,128,128,1,.9,{1:.144,2:.133,4:.119,8:.208,16:.257}),
 (28,256,256,1,.9,{1:.382,2:.399,4:.451,8:.715,16:1.015}),
 (14,512,512,1,.9,{1:.335,2:.388,4:.478,8:.758,16:1.138}),
 (14,512,512,2,.9,{2:.247,4:.288,8:.496,16:.787}),
]
if t.isa == "avx2":
    cases = AVX2_CASES
for hw, ci, co, G, s, meas in cases:
    cands = [g for g in meas]
    table = min(cands, key=lambda g: t.ratio(g, hw, s ** (g // G)))
    two = t.packing_group(G, ci, lambda g: 1 - s ** (g // G))
    best = min(meas, key=meas.get)
    print(f"{hw}x{hw} {ci}->{co} G={G} {s:.0%}: best {best}; table rule {table} ({meas[table]/meas[best]:.2f}x); two-term {two} ({meas[two]/meas[best]:.2f}x)")
