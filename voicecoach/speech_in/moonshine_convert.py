"""Moonshine's shipped ORT-format models, rebuilt once into fast ONNX models for onnxruntime.

The `moonshine-cpp` wheel (MIT, Moonshine AI) carries Moonshine base (English, 61M parameters,
trained on ~200k hours of real speech) as two ORT-format flatbuffers whose weights are int8 and
dequantized by Cast/Mul nodes *on every run*: 50-60 ms per decoder step on one core, ~0.3 s per
command. Its own C library doesn't run here either (illegal instruction on a CPU without the
extensions it was built for), so voicecoach reads only its model files and:
1. rebuilds an ONNX graph from each flatbuffer (nodes, attributes, subgraphs, initializers:
   onnxruntime ships the flatbuffer readers, `onnx` writes the protobuf);
2. splits the decoder's `If` (first step / cached step) into two graphs, so each can be
   optimized and quantized on its own;
3. lets onnxruntime fold the dequantization into float weights (basic graph optimizations);
4. re-quantizes the MatMuls with onnxruntime's dynamic int8 quantizer: all of the decoder's,
   and the encoder's MatMuls but not its convolution stem (quantizing the stem too cost half
   the transcripts; float everywhere takes 650 MB of memory for the same words);
5. keeps of the first-step decoder only its cross-attention projections (the encoder's keys
   and values for every layer, 3 MB): the cached-step decoder, started from an empty
   self-attention cache, computes the first token exactly as the first-step decoder does, so
   the 55 MB first-step decoder isn't loaded at all;
6. takes the token embedding table (int8, 13 MB) out of the step decoder into a file the
   transcriber maps into memory and reads the few rows it needs from: the decoder's output
   layer holds the same table transposed, and two resident copies cost 13 MB for nothing;
7. saves each model's weights in a file of their own beside it, which onnxruntime reads
   straight into its tensors (27 MB less resident after loading than from single files).
The result: ~40 ms per short command on one core, identical transcripts on the benchmark's
clips checked (BENCHMARKS.md). This runs once (~15 s) into the user cache directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

ENCODER, CROSS, STEP = "encoder.onnx", "decoder_cross.onnx", "decoder_step.onnx"
"""The rebuilt models: encoder; the decoder's cross-attention cache (keys and values of the
encoder's output, per layer); the decoder for each token, reading both caches."""
EMBEDDINGS = "embeddings.npy"
"""The step decoder's token embeddings (quantized rows, one per token id)."""
EMBEDDED = "embedded_tokens"
"""The step decoder's input in place of token ids: their rows of EMBEDDINGS."""
FIRST = "decoder_first.onnx"
"""The first-step decoder: a step of the conversion only, cut down to CROSS."""


def _graph_from_flatbuffer(g, name: str):
    """An onnx GraphProto with the nodes, initializers and interface of ORT flatbuffer graph `g`."""
    import onnx
    from onnx import helper
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    kinds = fbs.AttributeType.AttributeType

    def text(b: bytes | None) -> str:
        return b.decode() if b is not None else ""

    def tensor(t) -> onnx.TensorProto:
        tp = onnx.TensorProto(name=text(t.Name()), data_type=t.DataType())
        tp.dims.extend(t.Dims(j) for j in range(t.DimsLength()))
        if t.StringDataLength():
            tp.string_data.extend(t.StringData(j) for j in range(t.StringDataLength()))
        elif t.RawDataLength():
            tp.raw_data = t.RawDataAsNumpy().tobytes()
        return tp

    def attribute(a) -> onnx.AttributeProto:
        key, kind = text(a.Name()), a.Type()
        many = {
            kinds.FLOATS: (onnx.AttributeProto.FLOATS, a.Floats, a.FloatsLength),
            kinds.INTS: (onnx.AttributeProto.INTS, a.Ints, a.IntsLength),
            kinds.STRINGS: (onnx.AttributeProto.STRINGS, a.Strings, a.StringsLength),
        }
        if kind in many:
            attr_type, get, count = many[kind]
            return helper.make_attribute(key, [get(j) for j in range(count())], attr_type=attr_type)
        single = {kinds.FLOAT: a.F, kinds.INT: a.I, kinds.STRING: a.S,
                  kinds.TENSOR: lambda: tensor(a.T()), kinds.GRAPH: lambda: _graph_from_flatbuffer(a.G(), key)}
        if kind in single:
            return helper.make_attribute(key, single[kind]())
        if kind == kinds.GRAPHS:
            return helper.make_attribute(key, [_graph_from_flatbuffer(a.Graphs(j), key) for j in range(a.GraphsLength())])
        raise ValueError(f"attribute {key!r} has a type the converter doesn't know ({kind})")

    args = {text(g.NodeArgs(i).Name()): g.NodeArgs(i) for i in range(g.NodeArgsLength())}

    def value_info(name: str) -> onnx.ValueInfoProto:
        info = args.get(name)
        if info is None or info.Type() is None:
            return onnx.ValueInfoProto(name=name)
        shaped = fbs.TensorTypeAndShape.TensorTypeAndShape()
        value = info.Type().Value()
        shaped.Init(value.Bytes, value.Pos)
        dims = None
        if shaped.Shape() is not None:
            dims = []
            for j in range(shaped.Shape().DimLength()):
                dim = shaped.Shape().Dim(j).Value()
                dims.append(None if dim is None else dim.DimValue() if dim.DimType() == 1 else text(dim.DimParam()) or None)
        return helper.make_tensor_value_info(name, shaped.ElemType(), dims)

    nodes = []
    for i in range(g.NodesLength()):
        n = g.Nodes(i)
        node = helper.make_node(text(n.OpType()), [text(n.Inputs(j)) for j in range(n.InputsLength())],
                                [text(n.Outputs(j)) for j in range(n.OutputsLength())],
                                name=text(n.Name()), domain=text(n.Domain()) or None)
        node.attribute.extend(attribute(n.Attributes(j)) for j in range(n.AttributesLength()))
        nodes.append(node)
    inits = [tensor(g.Initializers(i)) for i in range(g.InitializersLength())]
    init_names = {t.name for t in inits}
    inputs = [value_info(text(g.Inputs(i))) for i in range(g.InputsLength()) if text(g.Inputs(i)) not in init_names]
    outputs = [value_info(text(g.Outputs(i))) for i in range(g.OutputsLength())]
    return helper.make_graph(nodes, name, inputs, outputs, inits)


def model_from_flatbuffer(path: Path):
    """The onnx ModelProto stored in the ORT-format file `path`."""
    from onnx import helper
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    m = fbs.InferenceSession.InferenceSession.GetRootAs(bytearray(path.read_bytes()), 0).Model()
    opsets = [helper.make_opsetid(m.OpsetImport(i).Domain().decode(), m.OpsetImport(i).Version())
              for i in range(m.OpsetImportLength())]
    return helper.make_model(_graph_from_flatbuffer(m.Graph(), "main"), opset_imports=opsets, ir_version=m.IrVersion())


def split_decoder(model) -> dict[str, object]:
    """The merged decoder's two `If` branches as standalone models: {FIRST: ..., STEP: ...}."""
    from onnx import helper

    g = model.graph
    (branch_node,) = [n for n in g.node if n.op_type == "If"]
    shared = [n for n in g.node if n is not branch_node]  # the weights' dequantization
    outputs = {o.name: o for o in g.output}
    models = {}
    for attr, name in (("else_branch", FIRST), ("then_branch", STEP)):
        branch = next(a.g for a in branch_node.attribute if a.name == attr)
        used = {i for n in [*shared, *branch.node] for i in n.input}
        graph = helper.make_graph([*shared, *branch.node], name, [i for i in g.input if i.name in used],
                                  [outputs[o.name] for o in branch.output], [*g.initializer, *branch.initializer])
        models[name] = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    return models


def cross_attention_cache(model):
    """Of the (quantized) first-step decoder, only what computes the `present.*.encoder.*`
    outputs from `encoder_hidden_states`. Their reshapes read the batch size from the
    decoder's own hidden states (a Shape of a layer norm's output, whose index 0 a Gather takes):
    those Shapes read `encoder_hidden_states` instead, whose batch size is the same, so none of
    the decoder's layers is needed."""
    from onnx import helper, numpy_helper

    g = model.graph
    position = {o: i for i, n in enumerate(g.node) for o in n.output}
    initializers = {t.name: t for t in g.initializer}
    outputs = [o for o in g.output if ".encoder." in o.name]
    kept, rewired, todo = {}, set(), [o.name for o in outputs]
    while todo:
        name = todo.pop()
        if name not in position or position[name] in kept:
            continue
        node = g.node[position[name]]
        if node.op_type == "Shape" and node.input[0] != "encoder_hidden_states":
            node = helper.make_node("Shape", ["encoder_hidden_states"], list(node.output), name=node.name)
            rewired.add(node.output[0])
        kept[position[name]] = node
        todo.extend(i for i in node.input if i)
    kept = [kept[i] for i in sorted(kept)]  # the model's own order is topological
    for node in kept:  # every index read from a rewired Shape must be the batch size's
        if rewired & set(node.input):
            index = initializers.get(node.input[1]) if node.op_type == "Gather" else None
            if index is None or int(numpy_helper.to_array(index)) != 0:
                raise ValueError(f"{node.name} reads more than the batch size from a decoder Shape")
    used = {i for n in kept for i in n.input}
    graph = helper.make_graph(kept, "cross", [i for i in g.input if i.name == "encoder_hidden_states"], outputs,
                              [t for t in g.initializer if t.name in used])
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def embeddings_outside(model):
    """The (quantized) step decoder reading its tokens' embedding rows as the input EMBEDDED
    instead of looking them up in its own table, and that table (an array, one row per id)."""
    from onnx import helper, numpy_helper

    g = model.graph
    (lookup,) = [n for n in g.node if n.op_type == "Gather" and n.input[1] == "input_ids"]
    (table,) = [t for t in g.initializer if t.name == lookup.input[0]]
    rows = numpy_helper.to_array(table)
    nodes = [n for n in g.node if n is not lookup]
    for n in nodes:  # the lookup's output is now a graph input: named EMBEDDED
        n.input[:] = [EMBEDDED if i == lookup.output[0] else i for i in n.input]
    if any("input_ids" in n.input for n in nodes):
        raise ValueError("the step decoder reads its token ids beyond the embedding lookup")
    embedded = helper.make_tensor_value_info(EMBEDDED, table.data_type, ["batch", "tokens", rows.shape[1]])
    inputs = [embedded] + [i for i in g.input if i.name != "input_ids"]
    graph = helper.make_graph(nodes, g.name, inputs, list(g.output), [t for t in g.initializer if t is not table])
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version), rows


def _fold_and_quantize(model, out: Path, ops: list[str], scratch: Path) -> None:
    """Fold constant subgraphs (the dequantization) with onnxruntime, then quantize `ops` to int8."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    raw, folded = scratch / f"raw-{out.name}", scratch / f"folded-{out.name}"
    onnx.save(model, raw)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
    quantize_dynamic(folded, out, weight_type=QuantType.QInt8, op_types_to_quantize=ops)


def _save(model, path: Path) -> None:
    """Save a model with its weights in a file of their own beside it (`<name>.data`):
    onnxruntime then reads them straight into its tensors. From a single file it parsed the
    whole model first and freed that copy after making its own, leaving holes in the heap
    (27 MB more resident after loading the three models, measured)."""
    import onnx

    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=4096)


def convert(encoder_ort: Path, decoder_ort: Path, out_dir: Path, progress: Callable[[str], None]) -> None:
    """Write ENCODER, CROSS, STEP and EMBEDDINGS into `out_dir` from Moonshine's two ORT-format files."""
    import logging

    import numpy as np
    import onnx

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantizer's advice lines go to the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="voicecoach-moonshine-") as tmp:
            scratch = Path(tmp)
            progress("encoder")
            _fold_and_quantize(model_from_flatbuffer(encoder_ort), scratch / ENCODER, ["MatMul"], scratch)
            _save(onnx.load(scratch / ENCODER), out_dir / ENCODER)
            branches = split_decoder(model_from_flatbuffer(decoder_ort))
            progress("decoder")
            _fold_and_quantize(branches[FIRST], scratch / FIRST, ["MatMul", "Gather"], scratch)
            _save(cross_attention_cache(onnx.load(scratch / FIRST)), out_dir / CROSS)
            progress("decoder steps")
            _fold_and_quantize(branches[STEP], scratch / STEP, ["MatMul", "Gather"], scratch)
            step, rows = embeddings_outside(onnx.load(scratch / STEP))
            _save(step, out_dir / STEP)
            np.save(out_dir / EMBEDDINGS, rows)
    finally:
        root.setLevel(level)
