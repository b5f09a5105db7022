#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_onnx (tests/fuzz/corpus/onnx/) with onnx.helper.

Small valid models of every operator the importer reads, in PyTorch's
exporter layouts, and a few it must refuse; each file < 4 KB. Needs the
`onnx` package (scripts/python_tools.sh makes a venv with it):

    $(bash scripts/python_tools.sh) tests/fuzz/make_onnx_seeds.py
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus", "onnx")
rng = np.random.default_rng(0)


def w(name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)


def put(name, nodes, inits, in_shape, opset=13):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()
    assert len(data) < 4096, (name, len(data))
    os.makedirs(CORPUS, exist_ok=True)
    with open(os.path.join(CORPUS, name), "wb") as f:
        f.write(data)


N = "N"
put("cnn", [
    helper.make_node("Conv", ["x", "c.w", "c.b"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["a"], ["b"]),
    helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Flatten", ["c"], ["d"], axis=1),
    helper.make_node("Gemm", ["d", "f.w", "f.b"], ["y"], transB=1),
], [w("c.w", [2, 1, 3, 3]), w("c.b", [2]), w("f.w", [3, 8]), w("f.b", [3])], [N, 1, 4, 4])
put("residual", [
    helper.make_node("Conv", ["x", "c1"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("BatchNormalization", ["a", "s", "b", "m", "v"], ["bn"], epsilon=1e-5),
    helper.make_node("Relu", ["bn"], ["r"]),
    helper.make_node("Conv", ["r", "c2"], ["e"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Add", ["e", "x"], ["s1"]),
    helper.make_node("Relu", ["s1"], ["t"]),
    helper.make_node("Conv", ["t", "p"], ["q"], kernel_shape=[1, 1], strides=[2, 2]),
    helper.make_node("Conv", ["t", "c3"], ["u"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("Add", ["u", "q"], ["s2"]),
    helper.make_node("GlobalAveragePool", ["s2"], ["g"]),
    helper.make_node("Flatten", ["g"], ["y"]),
], [w("c1", [2, 2, 3, 3]), w("s", [2]), w("b", [2]), w("m", [2]),
    numpy_helper.from_array(np.ones(2, np.float32), "v"), w("c2", [2, 2, 3, 3]), w("p", [3, 2, 1, 1]),
    w("c3", [3, 2, 3, 3])], [N, 2, 4, 4])
put("reshape_constant", [
    helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
    helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 1, 1],
                     count_include_pad=1, ceil_mode=1),
    helper.make_node("Reshape", ["a", "shape"], ["b"]),
    helper.make_node("Dropout", ["b", "ratio"], ["c"]),
    helper.make_node("Gemm", ["c", "f.w"], ["d"]),
    helper.make_node("LeakyRelu", ["d"], ["e"], alpha=0.2),
    helper.make_node("LogSoftmax", ["e"], ["y"], axis=1),
], [numpy_helper.from_array(np.array(0.5, np.float32), "ratio"), w("f.w", [50, 3])], [2, 2, 4, 4], opset=17)
put("mlp", [
    helper.make_node("Gemm", ["x", "w1", "b1"], ["a"], transB=1),
    helper.make_node("Sigmoid", ["a"], ["b"]),
    helper.make_node("Identity", ["b"], ["c"]),
    helper.make_node("Tanh", ["c"], ["d"]),
    helper.make_node("Gemm", ["d", "w2"], ["e"], transB=1),
    helper.make_node("Softmax", ["e"], ["y"], axis=-1),
], [w("w1", [4, 6]), w("b1", [4]), w("w2", [3, 4])], [N, 6])
put("refused_asymmetric_pads", [
    helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
], [], [N, 1, 4, 4])
put("refused_opset_11", [helper.make_node("Relu", ["x"], ["y"])], [], [N, 3], opset=11)
