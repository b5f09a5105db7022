#!/usr/bin/env python3
"""Checks convnet's ONNX files with ONNX's checker and the real runtime.

Export: the fixture program (argv[1]) writes the MNIST CNN, the series' MLP,
the ResNet-8 and models of every exported operator; each must pass
onnx.checker (full check, shape inference included), and onnxruntime's output
must match convnet's Mode::Eval output to 1e-5, at the exported batch and at
another batch size (the batch dimension is dynamic).

Import: models written here with onnx.helper in the layouts PyTorch's exporter
writes (Reshape/Flatten before Gemm, Gemm with and without transB, Conv with and
without bias, explicit pads, Constant nodes, eval-form BatchNormalization,
Dropout, residual Add + Relu) must load into convnet and give onnxruntime's
outputs to 1e-5 (the fixture's `run`).

Exit 77 (skip) when onnx, onnxruntime or numpy is missing, unless
CONVNET_REQUIRE_TOOLS=1, when that is a failure.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    if os.environ.get("CONVNET_REQUIRE_TOOLS") == "1":
        print(f"FAILED: {e}; CONVNET_REQUIRE_TOOLS=1 (scripts/python_tools.sh makes the venv)")
        sys.exit(1)
    print(f"skipped: {e} (scripts/python_tools.sh makes a venv with onnx and onnxruntime)")
    sys.exit(77)

TOLERANCE = 1e-5
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAILED: " + message, flush=True)
    return condition


def run_ort(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def check_export(fixture, directory):
    result = subprocess.run([fixture, "export", directory], capture_output=True, text=True)
    if result.returncode == 77:
        print("skipped: " + result.stderr.strip())
        sys.exit(77)
    if not check(result.returncode == 0, f"fixture export failed: {result.stderr}"):
        return
    for name in result.stdout.split():
        path = os.path.join(directory, name)
        stem = path[: -len(".onnx")]
        model = onnx.load(path)
        try:
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # noqa: BLE001 - any checker complaint is a failure
            check(False, f"{name}: onnx.checker: {e}")
            continue
        x = np.load(stem + ".input.npy")
        expected = np.load(stem + ".output.npy")
        got = run_ort(path, x)
        check(got.shape == expected.shape, f"{name}: onnxruntime shape {got.shape} != convnet {expected.shape}")
        if got.shape != expected.shape:
            continue
        diff = float(np.max(np.abs(got - expected)))
        print(f"export {name}: opset {model.opset_import[0].version}, "
              f"{len(model.graph.node)} nodes, max |onnxruntime - convnet| = {diff:.3g}")
        check(diff <= TOLERANCE, f"{name}: onnxruntime differs from convnet by {diff:.3g} > {TOLERANCE}")
        one = run_ort(path, x[:1])  # another batch size through the dynamic dimension
        diff1 = float(np.max(np.abs(one - expected[:1])))
        check(diff1 <= TOLERANCE, f"{name}: batch 1 differs by {diff1:.3g}")


# ---- models in PyTorch's exporter layouts, for import
rng = np.random.default_rng(3)


def init(name, shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def positive(name, shape):
    return numpy_helper.from_array(rng.uniform(0.5, 1.5, shape).astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def bn(prefix, x, out, c, nodes, inits):
    names = [f"{prefix}.weight", f"{prefix}.bias", f"{prefix}.running_mean", f"{prefix}.running_var"]
    inits += [positive(names[0], [c]), init(names[1], [c]), init(names[2], [c]), positive(names[3], [c])]
    nodes.append(helper.make_node("BatchNormalization", [x] + names, [out], name=prefix,
                                  epsilon=1e-5, momentum=0.9))


def cnn_model(opset, flatten_with_reshape, trans_b):
    """Conv(bias) Relu MaxPool Conv(no bias, pads) BN Relu Reshape|Flatten Gemm Relu Dropout Gemm LogSoftmax."""
    nodes, inits = [], []
    inits += [init("conv1.weight", [4, 1, 3, 3]), init("conv1.bias", [4])]
    nodes.append(helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="/conv1/Conv",
                                  dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="/relu/Relu"))
    nodes.append(helper.make_node("MaxPool", ["r1"], ["p1"], name="/pool/MaxPool", ceil_mode=0,
                                  kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2]))
    inits.append(init("conv2.weight", [6, 4, 3, 3]))
    nodes.append(helper.make_node("Conv", ["p1", "conv2.weight"], ["c2"], name="/conv2/Conv",
                                  kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    bn("bn2", "c2", "b2", 6, nodes, inits)
    nodes.append(helper.make_node("Relu", ["b2"], ["r2"], name="/relu_1/Relu"))
    if flatten_with_reshape:  # x.view(x.size(0), -1) after constant folding: a Constant shape
        nodes.append(helper.make_node("Constant", [], ["shape"], name="/Constant",
                                      value=numpy_helper.from_array(np.array([-1, 6 * 4 * 4], dtype=np.int64))))
        nodes.append(helper.make_node("Reshape", ["r2", "shape"], ["f"], name="/Reshape"))
    else:
        nodes.append(helper.make_node("Flatten", ["r2"], ["f"], name="/Flatten", axis=1))
    if trans_b:
        inits += [init("fc1.weight", [12, 96]), init("fc1.bias", [12])]
    else:
        inits += [init("fc1.weight", [96, 12]), init("fc1.bias", [12])]
    nodes.append(helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], name="/fc1/Gemm",
                                  alpha=1.0, beta=1.0, transB=1 if trans_b else 0))
    nodes.append(helper.make_node("Relu", ["g1"], ["r3"], name="/relu_2/Relu"))
    inits.append(numpy_helper.from_array(np.array(0.25, dtype=np.float32), "ratio"))
    nodes.append(helper.make_node("Dropout", ["r3", "ratio"], ["d"], name="/dropout/Dropout"))
    inits += [init("fc2.weight", [10, 12]), init("fc2.bias", [10])]
    nodes.append(helper.make_node("Gemm", ["d", "fc2.weight", "fc2.bias"], ["g2"], name="/fc2/Gemm", transB=1))
    nodes.append(helper.make_node("LogSoftmax", ["g2"], ["output"], name="/LogSoftmax", axis=1))
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 16, 16])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), (3, 1, 16, 16)


def resnet_model(opset):
    """torchvision BasicBlocks as torch.onnx writes them (BN folded into Conv is not used here:
    BatchNormalization nodes stay, as with training=TrainingMode.PRESERVE / do_constant_folding=False)."""
    nodes, inits = [], []
    inits.append(init("conv1.weight", [8, 3, 3, 3]))
    nodes.append(helper.make_node("Conv", ["input", "conv1.weight"], ["s"], name="/conv1/Conv", kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1], strides=[1, 1]))
    bn("bn1", "s", "sb", 8, nodes, inits)
    nodes.append(helper.make_node("Relu", ["sb"], ["x0"], name="/relu/Relu"))

    def block(prefix, x, out, cin, cout, stride):
        inits.append(init(f"{prefix}.conv1.weight", [cout, cin, 3, 3]))
        nodes.append(helper.make_node("Conv", [x, f"{prefix}.conv1.weight"], [f"{prefix}.a"], name=f"/{prefix}/conv1/Conv",
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride]))
        bn(f"{prefix}.bn1", f"{prefix}.a", f"{prefix}.b", cout, nodes, inits)
        nodes.append(helper.make_node("Relu", [f"{prefix}.b"], [f"{prefix}.c"], name=f"/{prefix}/relu/Relu"))
        inits.append(init(f"{prefix}.conv2.weight", [cout, cout, 3, 3]))
        nodes.append(helper.make_node("Conv", [f"{prefix}.c", f"{prefix}.conv2.weight"], [f"{prefix}.d"],
                                      name=f"/{prefix}/conv2/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        bn(f"{prefix}.bn2", f"{prefix}.d", f"{prefix}.e", cout, nodes, inits)
        shortcut = x
        if stride != 1 or cin != cout:
            inits.append(init(f"{prefix}.downsample.0.weight", [cout, cin, 1, 1]))
            nodes.append(helper.make_node("Conv", [x, f"{prefix}.downsample.0.weight"], [f"{prefix}.ds"],
                                          name=f"/{prefix}/downsample/0/Conv", kernel_shape=[1, 1],
                                          strides=[stride, stride]))
            bn(f"{prefix}.downsample.1", f"{prefix}.ds", f"{prefix}.dsb", cout, nodes, inits)
            shortcut = f"{prefix}.dsb"
        # torch writes out += identity as Add(out, identity)
        nodes.append(helper.make_node("Add", [f"{prefix}.e", shortcut], [f"{prefix}.sum"], name=f"/{prefix}/Add"))
        nodes.append(helper.make_node("Relu", [f"{prefix}.sum"], [out], name=f"/{prefix}/relu_1/Relu"))

    block("layer1.0", "x0", "x1", 8, 8, 1)
    block("layer2.0", "x1", "x2", 8, 16, 2)
    nodes.append(helper.make_node("GlobalAveragePool", ["x2"], ["gap"], name="/avgpool/GlobalAveragePool"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="/Flatten", axis=1))
    inits += [init("fc.weight", [10, 16]), init("fc.bias", [10])]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm",
                                  alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(nodes, "resnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 12, 12])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), (2, 3, 12, 12)


def pools_model(opset):
    """AveragePool with both divisors and ceil_mode, LeakyRelu, Sigmoid, Tanh, Identity, Softmax, static batch."""
    nodes = [
        helper.make_node("AveragePool", ["input"], ["a"], name="/pool1", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
        helper.make_node("LeakyRelu", ["a"], ["b"], name="/leaky", alpha=0.1),
        helper.make_node("AveragePool", ["b"], ["c"], name="/pool2", kernel_shape=[2, 2], strides=[1, 1],
                         pads=[1, 1, 1, 1]),  # count_include_pad 0: ONNX's default
        helper.make_node("Sigmoid", ["c"], ["d"], name="/sigmoid"),
        helper.make_node("Identity", ["d"], ["e"], name="/identity"),
        helper.make_node("Tanh", ["e"], ["f"], name="/tanh"),
        helper.make_node("MaxPool", ["f"], ["g"], name="/pool3", kernel_shape=[2, 2], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1),
        helper.make_node("Reshape", ["g", "shape"], ["h"], name="/Reshape"),
        helper.make_node("Softmax", ["h"], ["output"], name="/Softmax", axis=-1),
    ]
    inits = [ints("shape", [2, -1])]
    graph = helper.make_graph(nodes, "pools", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 2, 9, 9])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [2, None])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), (2, 2, 9, 9)


def check_import(fixture, directory):
    models = [("cnn_reshape_opset13", *cnn_model(13, True, True)),
              ("cnn_flatten_gemm_no_transb_opset17", *cnn_model(17, False, False)),
              ("resnet_blocks_opset13", *resnet_model(13)),
              ("resnet_blocks_opset17", *resnet_model(17)),
              ("pools_opset13", *pools_model(13))]
    for name, model, shape in models:
        path = os.path.join(directory, name + ".onnx")
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, path)
        x = rng.standard_normal(shape).astype(np.float32)
        np.save(os.path.join(directory, name + ".input.npy"), x)
        expected = run_ort(path, x)
        out = os.path.join(directory, name + ".convnet.npy")
        result = subprocess.run([fixture, "run", path, os.path.join(directory, name + ".input.npy"), out],
                                capture_output=True, text=True)
        if not check(result.returncode == 0, f"import {name}: {result.stderr.strip()}"):
            continue
        got = np.load(out)
        if not check(got.shape == expected.shape, f"import {name}: shape {got.shape} != onnxruntime {expected.shape}"):
            continue
        diff = float(np.max(np.abs(got - expected)))
        print(f"import {name}: max |convnet - onnxruntime| = {diff:.3g}")
        check(diff <= TOLERANCE, f"import {name}: differs from onnxruntime by {diff:.3g} > {TOLERANCE}")


def main():
    fixture = sys.argv[1]
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    with tempfile.TemporaryDirectory() as directory:
        check_export(fixture, directory)
        check_import(fixture, directory)
    print(f"{len(failures)} failures" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
