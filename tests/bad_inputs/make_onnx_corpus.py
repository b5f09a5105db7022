#!/usr/bin/env python3
"""Writes tests/bad_inputs/onnx/: ONNX files io::import_onnx must refuse, each
wrong in one way, with the words its error must hold in expected.txt.

Needs the `onnx` package (scripts/python_tools.sh makes a venv with it), since
the files are protobuf messages and we do not write that format by hand:

    $(bash scripts/python_tools.sh) tests/bad_inputs/make_onnx_corpus.py
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
expected = []


def model(nodes, inits=(), inputs=None, opset=13):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])]
    graph = helper.make_graph(nodes, "bad", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8).SerializeToString()


def put(name, data, *words):
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    expected.append(name + "\t" + "\t".join(words))


w = numpy_helper.from_array(np.full((2, 1, 3, 3), 0.1, np.float32), "w")
good = model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], [w])
put("empty.onnx", b"", "no graph")
put("text.onnx", "this is not an ONNX model\n", "not an ONNX model")
put("truncated.onnx", good[: len(good) // 2], "not an ONNX model")
put("opset-9.onnx", model([helper.make_node("Relu", ["x"], ["y"])], opset=9), "opset 9")
put("unknown-operator.onnx", model([helper.make_node("Erf", ["x"], ["y"], name="erf")]), "'erf' (Erf)", "not supported")
put("asymmetric-pads.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 1, 0, 0])], [w]),
    "'c' (Conv)", "'pads'")
put("grouped-conv.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", group=2)], [w]), "'group'")
short = numpy_helper.from_array(np.full((2, 1, 3, 3), 0.1, np.float32), "w")
short.raw_data = short.raw_data[:-4]
put("raw-data-short.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [short]), "raw_data holds 68 bytes")
negative = numpy_helper.from_array(np.full((2, 1, 3, 3), 0.1, np.float32), "w")
negative.dims[0] = -2
put("negative-dimension.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [negative]),
    "negative dimension")
put("two-inputs.onnx", model([helper.make_node("Relu", ["x"], ["y"])], inputs=[
    helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4]),
    helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 1, 4, 4])]), "more than one input")
put("cycle.onnx", model([helper.make_node("Relu", ["z"], ["y"], name="a"), helper.make_node("Relu", ["y"], ["z"], name="b")]),
    "later node")
put("dangling-input.onnx", model([helper.make_node("Relu", ["nowhere"], ["y"], name="r")]), "'nowhere'")
put("double-input.onnx", model([helper.make_node("Relu", ["x"], ["y"])],
                               inputs=[helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 1, 4, 4])]),
    "element type 11")
with open(os.path.join(HERE, "expected.txt"), "w") as f:
    f.write("# file<TAB>words the error must hold (written by ../make_onnx_corpus.py)\n")
    f.write("\n".join(expected) + "\n")
