"""The subset of MNN 3.6.1's model schema this project reads and writes.

Written by hand from the facts in MNN's public schema (field order, enum values);
field ids are 0-based slots in the table's vtable. Nothing outside this subset is
interpreted: other tables are preserved byte for byte.
"""


class NetF:  # table Net (root)
    extraTensorDescribe = 1
    oplists = 3
    outputName = 4
    tensorName = 7
    subgraphs = 10


class OpF:  # table Op
    inputIndexes = 0
    main_type = 1  # the OpParameter union's type byte
    main = 2
    name = 3
    outputIndexes = 4
    type = 5
    NUM_FIELDS = 8  # ... defaultDimentionFormat 6, externalPath 7


class Conv2DF:  # table Convolution2D
    common = 0
    weight = 1
    bias = 2
    quanParameter = 3
    symmetricQuan = 4
    sparseParameter = 5
    external = 6
    NUM_FIELDS = 7


class CommonF:  # table Convolution2DCommon: (slot, scalar kind, default)
    SCALARS = {
        "padX": (0, "i32", 0), "padY": (1, "i32", 0), "kernelX": (2, "i32", 1), "kernelY": (3, "i32", 1),
        "strideX": (4, "i32", 1), "strideY": (5, "i32", 1), "dilateX": (6, "i32", 1), "dilateY": (7, "i32", 1),
        "padMode": (8, "i8", 0), "group": (9, "i32", 1), "outputCount": (10, "i32", 0),
        "inputCount": (11, "i32", 0), "relu": (12, "bool", False), "relu6": (13, "bool", False),
        "hasOutputShape": (16, "bool", False),
    }
    pads = 14  # [int]: top, left, bottom, right (MNN reads pads[0]=y, pads[1]=x, [2]=bottom, [3]=right)
    outPads = 15
    NUM_FIELDS = 17


class QuanF:  # table IDSTQuan
    buffer = 0
    alpha = 1
    type = 2
    weightSize = 12
    index = 13
    alphaFp16 = 14
    scaleStorage = 15


class SparseF:  # table SparseCommon
    method = 0
    args = 1


class AttrF:  # table Attribute
    s = 0
    i = 1
    b = 2
    key = 3
    type = 4
    f = 5


class BlobF:  # table Blob (Const op parameter)
    dims = 0
    dataFormat = 1
    dataType = 2
    uint8s = 3
    int8s = 4
    int32s = 5
    int64s = 6
    float32s = 7
    external = 9


class DataType:  # enum DataType (MNN's Type.fbs)
    FLOAT = 1
    INT32 = 3
    UINT8 = 4
    INT8 = 6
    INT64 = 9
    LAST = 21      # DT_VARIANT: values above it are not MNN data types


class Relu6F:
    minValue = 0
    maxValue = 1


class PReluF:
    slopeCount = 0
    slope = 1


class OpType:
    BinaryOp = 7
    Concat = 10
    Const = 11
    Convolution = 12
    ConvolutionDepthwise = 13
    Deconvolution = 17
    DeconvolutionDepthwise = 18
    Dropout = 21
    Eltwise = 22
    ELU = 23
    Flatten = 28
    Input = 34
    Pooling = 47
    PReLU = 49
    Reduction = 68
    ReLU = 69
    ReLU6 = 70
    Reshape = 73
    Selu = 78
    Sigmoid = 81
    SliceTf = 84
    TanH = 95
    Threshold = 97
    UnaryOp = 101
    ConvertTensor = 129
    ConvInt8 = 513
    DepthwiseConvInt8 = 515

    NAMES = {
        7: "BinaryOp", 10: "Concat", 11: "Const", 12: "Convolution", 13: "ConvolutionDepthwise",
        17: "Deconvolution", 18: "DeconvolutionDepthwise", 21: "Dropout", 22: "Eltwise", 23: "ELU",
        28: "Flatten", 34: "Input", 45: "Padding", 47: "Pooling", 49: "PReLU", 69: "ReLU", 70: "ReLU6",
        73: "Reshape", 77: "Scale", 78: "Selu", 81: "Sigmoid", 85: "Softmax", 90: "Squeeze", 95: "TanH",
        97: "Threshold", 101: "UnaryOp", 107: "Unsqueeze", 128: "Raster", 129: "ConvertTensor", 513: "ConvInt8",
        68: "Reduction", 84: "SliceTf", 133: "TensorArray", 134: "TensorArraySize", 135: "TensorArrayRead",
        136: "TensorArrayWrite", 137: "TensorArrayGather", 138: "TensorArrayScatter", 139: "TensorArraySplit",
        140: "TensorArrayConcat", 145: "TensorArrayInsert", 146: "TensorArrayErase",
        515: "DepthwiseConvInt8", 600: "While", 601: "If",
    }

    @classmethod
    def name(cls, t: int) -> str:
        return cls.NAMES.get(t, f"OpType{t}")


CONV_TYPES = (OpType.Convolution, OpType.ConvolutionDepthwise, OpType.Deconvolution,
              OpType.DeconvolutionDepthwise, OpType.ConvInt8, OpType.DepthwiseConvInt8)


class Param:  # OpParameter union type values
    Convolution2D = 9
    Blob = 7
    PRelu = 32
    Relu6 = 52
    Input = 21
    Reshape = 55
    ReductionParam = 50
    Selu = 59
    ELU = 81


class SparseAlgo:
    RANDOM = 0
    SIMD_OC = 1


class DataFormat:
    NCHW = 0
    NHWC = 1
    NC4HW4 = 2


DT_FLOAT = 1  # DataType enum value of float32


# What MNN 3.6.1 trusts without checking (its loader dereferences an op's parameter
# by the op's type; a mismatch crashes the process). Values from MNN's public schema.
OP_TYPE_RANGES = ((0, 122), (128, 156), (256, 269), (299, 306), (512, 515), (517, 518), (600, 601), (603, 604))
MAX_PARAM = 102  # last OpParameter union member in MNN 3.6.1
CONV2D_OP_TYPES = CONV_TYPES + (265,)  # + Conv2DBackPropFilter
# op type -> the OpParameter its MNN implementation always reads
REQUIRED_PARAM = {
    OpType.BinaryOp: 6, OpType.Concat: 4, OpType.Const: Param.Blob, OpType.Eltwise: 14, 28: 17,  # Flatten
    OpType.Input: 21, OpType.Pooling: 31, 73: 55,  # Reshape
    OpType.UnaryOp: 70, OpType.ConvertTensor: 66, 266: Param.Blob,  # TrainableParam
    68: 50, 107: 64, 112: 79,  # Reduction, Unsqueeze, and op 112, as every zoo model has them (fuzzing
                               # found MNN's Reduction shape code crashing on another parameter type)
    OpType.ReLU6: Param.Relu6,  # MNN's ReLU6 reads its min/max from it unchecked
    # MNN's GeometryELU / GeometryThreshold read alpha (scale) from them unchecked
    OpType.ELU: Param.ELU, OpType.Threshold: Param.ELU, OpType.Selu: Param.Selu,
    **{t: Param.Convolution2D for t in CONV_TYPES},
}


# op type -> the number of inputs its MNN shape code indexes without checking how many
# there are (inputs[k] past the end is read as a tensor and crashes the process); from
# MNN 3.6.1's source/shape/Shape{BinaryOp,SliceTf,TensorArray}.cpp
MIN_INPUTS = {
    OpType.BinaryOp: 2, OpType.SliceTf: 3,
    134: 2, 135: 3, 136: 4, 137: 3, 138: 4, 139: 4, 140: 2, 145: 4, 146: 3,   # TensorArraySize .. Erase
}

MNN_MAX_DIMS = 9   # MNN_MAX_TENSOR_DIM: the fixed size of its tensors' dimension arrays


def known_op_type(t: int) -> bool:
    return any(lo <= t <= hi for lo, hi in OP_TYPE_RANGES)
