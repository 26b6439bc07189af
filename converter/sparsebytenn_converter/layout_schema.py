"""Where MNN 3.6.1's tables keep references: what a walk of a whole model must follow.

Facts taken from MNN's public schema (field slots, union member order), written in
this project's own notation. Only reference fields are listed -- scalars are copied
as the bytes they are and need no description -- plus each table's number of
field slots, so a field beyond them (a newer MNN, a foreign file) is noticed and
makes the walk refuse instead of guessing.

Notation: slot -> S (string), VS (vector of strings), V1/V2/V4/V8 (vector of
scalars of that byte size), T(name) (table), VT(name) (vector of tables),
U(union) (union value; its type byte is the slot before).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class T:
    table: str


@dataclass(frozen=True)
class VT:
    table: str


@dataclass(frozen=True)
class U:
    union: str


S, VS = "string", "strings"
V1, V2, V4, V8 = ("scalars", 1), ("scalars", 2), ("scalars", 4), ("scalars", 8)

ROOT = "Net"

# table -> (number of field slots, {slot: reference kind})
TABLES = {
    "ArgMax": (4, {}),
    "AsString": (6, {5: S}),
    "AttentionParam": (7, {1: S, 4: VT("TensorQuantInfo")}),
    "Attribute": (9, {0: S, 3: S, 6: T("Blob"), 7: T("ListValue"), 8: T("NamedAttrList")}),
    "Axis": (1, {}),
    "BatchMatMulParam": (2, {}),
    "BatchNorm": (8, {1: V4, 2: V4, 3: V4, 4: V4, 5: V4, 6: V4}),
    "BinaryOp": (3, {}),
    "Blob": (10, {0: V4, 3: V1, 4: V1, 5: V4, 6: V8, 7: V4, 8: VS, 9: V8}),
    "CastParam": (2, {}),
    "Convolution2D": (7, {
        0: T("Convolution2DCommon"), 1: V4, 2: V4, 3: T("IDSTQuan"), 4: T("QuantizedFloatParam"),
        5: T("SparseCommon"), 6: V8,
    }),
    "Convolution2DCommon": (17, {14: V4, 15: V4}),
    "Convolution3D": (4, {0: T("Convolution3DCommon"), 1: V4, 2: V4, 3: V8}),
    "Convolution3DCommon": (12, {0: V4, 1: V4, 2: V4, 3: V4, 10: V4}),
    "Crop": (2, {1: V4}),
    "CropAndResize": (2, {}),
    "CumSum": (2, {}),
    "DepthSpaceParam": (2, {}),
    "Dequantize": (4, {0: T("QuantizedParam")}),
    "DetectionOutput": (10, {}),
    "DetectionPostProcessParam": (8, {7: V4}),
    "ELU": (1, {}),
    "Eltwise": (2, {1: V4}),
    "EltwiseInt8": (4, {
        1: T("QuantizedFloatParam"), 2: T("QuantizedFloatParam"), 3: T("QuantizedFloatParam"),
    }),
    "ExpandDims": (3, {}),
    "Extra": (5, {0: S, 1: S, 2: V1, 3: VT("Attribute")}),
    "ExtraInfo": (3, {0: V1, 1: S, 2: S}),
    "Fill": (0, {}),
    "Flatten": (2, {}),
    "FmhaV2Param": (1, {}),
    "FmhcaParam": (1, {}),
    "Gather": (4, {}),
    "GatherV2": (3, {}),
    "GridSample": (4, {}),
    "GroupNorm": (7, {2: V4, 3: V4, 6: V8}),
    "IDSTQuan": (16, {0: V1, 1: V4, 13: V4, 14: V2}),
    "IfParam": (4, {0: S, 1: S, 2: VT("StringVec"), 3: VT("StringVec")}),
    "ImageProcessParam": (11, {4: V4, 5: V4, 6: V4, 8: V4}),
    "InnerProduct": (8, {3: V4, 4: V4, 7: T("IDSTQuan")}),
    "Input": (3, {0: V4}),
    "Interp": (14, {}),
    "LRN": (5, {}),
    "LSTM": (9, {3: T("Blob"), 4: T("Blob"), 5: T("Blob"), 6: T("Blob"), 7: T("Blob")}),
    "LSTMBlockCell": (3, {}),
    "LayerNorm": (7, {0: V4, 2: V4, 3: V4, 5: V8}),
    "LinearAttentionParam": (6, {0: S}),
    "ListValue": (5, {0: VS, 1: V4, 2: V4, 3: V1, 4: V4}),
    "LoopParam": (8, {1: V4, 2: V4, 3: VT("TensorDescribe"), 6: VT("RegionCommand"), 7: VT("RegionCommand")}),
    "MatMul": (5, {3: V4, 4: V4}),
    "MomentsParam": (3, {0: V4}),
    "NamedAttrList": (2, {0: S, 1: VT("Attribute")}),
    "Net": (12, {
        0: S, 1: VT("TensorDescribe"), 2: T("ExtraInfo"), 3: VT("Op"), 4: VS, 7: VS,
        10: VT("SubGraphProto"), 11: S,
    }),
    "NonMaxSuppressionV2": (0, {}),
    "Normalize": (4, {3: V4}),
    "OneHotParam": (2, {}),
    "Op": (8, {0: V4, 2: U("OpParameter"), 3: S, 4: V4, 7: S}),
    "PRelu": (2, {1: V4}),
    "PackParam": (2, {}),
    "PadParam": (1, {}),
    "Permute": (1, {0: V4}),
    "Plugin": (2, {0: S, 1: VT("Attribute")}),
    "Pool": (13, {11: V4}),
    "Pool3D": (6, {0: V4, 1: V4, 2: V4}),
    "PriorBox": (11, {0: V4, 1: V4, 2: V4, 3: V4}),
    "Proposal": (9, {6: T("Blob"), 7: T("Blob"), 8: T("Blob")}),
    "QuantizeMaxMin": (1, {}),
    "QuantizeV2": (3, {}),
    "QuantizedAdd": (4, {1: T("QuantizedParam"), 2: T("QuantizedParam"), 3: T("QuantizedParam")}),
    "QuantizedAvgPool": (11, {}),
    "QuantizedBiasAdd": (5, {0: V4}),
    "QuantizedConcat": (5, {2: V4, 3: V4, 4: T("QuantizedParam")}),
    "QuantizedFloatParam": (13, {0: V1, 1: V4, 2: V4, 3: V4, 10: V4, 12: V4}),
    "QuantizedLogistic": (2, {0: T("QuantizedParam"), 1: T("QuantizedParam")}),
    "QuantizedMatMul": (2, {}),
    "QuantizedMaxPool": (11, {}),
    "QuantizedParam": (2, {}),
    "QuantizedRelu": (1, {}),
    "QuantizedRelu6": (1, {}),
    "QuantizedReshape": (2, {0: V4}),
    "QuantizedSoftmax": (2, {}),
    "RNNParam": (14, {
        4: T("Blob"), 5: T("Blob"), 6: T("Blob"), 7: T("Blob"), 8: T("Blob"), 9: T("Blob"),
        10: T("Blob"), 11: T("Blob"), 12: T("Blob"), 13: T("Blob"),
    }),
    "RandomUniform": (5, {}),
    "Range": (1, {}),
    "Rank": (0, {}),
    "ReduceJoin": (2, {1: S}),
    "ReductionParam": (5, {1: V4}),
    "Region": (4, {0: T("View"), 1: T("View"), 2: V4}),
    "RegionCommand": (7, {0: T("Op"), 1: V4, 2: V4, 3: V4, 4: VT("View"), 6: V4}),
    "Relu": (1, {}),
    "Relu6": (2, {}),
    "RequantizationRange": (0, {}),
    "Requantize": (0, {}),
    "Reshape": (2, {0: V4}),
    "Resize": (2, {}),
    "ReverseSequenceParam": (2, {}),
    "RoPEParam": (6, {4: T("LayerNorm"), 5: T("LayerNorm")}),
    "RoiParameters": (7, {}),
    "Scale": (4, {1: V4, 2: V4, 3: V8}),
    "Selu": (2, {}),
    "ShapeParam": (4, {}),
    "Size": (1, {}),
    "Slice": (3, {1: V4}),
    "SliceTf": (1, {}),
    "SpaceBatch": (2, {0: T("Blob"), 1: T("Blob")}),
    "SparseCommon": (2, {1: VT("Attribute")}),
    "SqueezeParam": (1, {0: V4}),
    "StftParam": (3, {}),
    "StridedSliceParam": (8, {}),
    "StringVec": (1, {0: VS}),
    "SubGraphProto": (6, {0: S, 1: V4, 2: V4, 3: VS, 4: VT("Op"), 5: VT("TensorDescribe")}),
    "TensorArray": (7, {2: V4}),
    "TensorConvertInfo": (2, {}),
    "TensorDescribe": (5, {0: T("Blob"), 2: S, 3: VT("Region"), 4: T("TensorQuantInfo")}),
    "TensorQuantInfo": (5, {}),
    "TfQuantizedConv2D": (15, {
        0: V4, 2: T("Convolution2DCommon"), 3: V1, 9: T("QuantizedParam"), 11: T("QuantizedParam"),
        12: T("QuantizedParam"), 14: T("QuantizedParam"),
    }),
    "TopKV2": (3, {}),
    "Transpose": (1, {}),
    "UnaryOp": (3, {2: V1}),
    "View": (2, {1: V4}),
    "WhileParam": (5, {0: S, 1: S, 2: VT("StringVec"), 3: VS, 4: VT("StringVec")}),
}

# union -> members in declaration order; a union type byte v names member v - 1 (0 = none)
UNIONS = {
    "OpParameter": (
    "QuantizedAdd", "ArgMax", "AsString", "Axis", "BatchNorm", "BinaryOp", "Blob", "CastParam",
    "Convolution2D", "Crop", "CropAndResize", "Dequantize", "DetectionOutput", "Eltwise",
    "ExpandDims", "Fill", "Flatten", "Gather", "GatherV2", "InnerProduct", "Input", "Interp", "LRN",
    "LSTM", "MatMul", "NonMaxSuppressionV2", "Normalize", "PackParam", "Permute", "Plugin", "Pool",
    "PRelu", "PriorBox", "Proposal", "QuantizedAvgPool", "QuantizedBiasAdd", "QuantizedConcat",
    "QuantizedLogistic", "QuantizedMatMul", "QuantizedMaxPool", "QuantizedRelu", "QuantizedRelu6",
    "QuantizedReshape", "QuantizedSoftmax", "QuantizeMaxMin", "QuantizeV2", "Range", "Rank",
    "ReduceJoin", "ReductionParam", "Relu", "Relu6", "RequantizationRange", "Requantize", "Reshape",
    "Resize", "RoiParameters", "Scale", "Selu", "Size", "Slice", "SliceTf", "SpaceBatch",
    "SqueezeParam", "StridedSliceParam", "TensorConvertInfo", "TfQuantizedConv2D", "TopKV2",
    "Transpose", "UnaryOp", "MomentsParam", "RNNParam", "BatchMatMulParam", "QuantizedFloatParam",
    "DepthSpaceParam", "EltwiseInt8", "ReverseSequenceParam", "Extra", "Pool3D", "Convolution3D",
    "ELU", "DetectionPostProcessParam", "OneHotParam", "PadParam", "WhileParam", "IfParam",
    "RandomUniform", "LayerNorm", "TensorArray", "LSTMBlockCell", "GridSample", "LoopParam",
    "ImageProcessParam", "CumSum", "GroupNorm", "FmhaV2Param", "FmhcaParam", "AttentionParam",
    "StftParam", "LinearAttentionParam", "ShapeParam", "RoPEParam",
    ),
}
