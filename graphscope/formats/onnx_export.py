"""ONNX export: ``gs.to_onnx(graph, "model.onnx", opset=17)`` writes any graphscope graph as standard ONNX.

Every catalogue op maps to standard ONNX ops (``EXPORTERS`` below: one function per op). graphscope
follows NumPy's dtype rules and ONNX wants one type per op, so an exporter casts its operands to
the dtype NumPy computes in and back where ONNX lacks a type (int8 MatMul runs in int32 ...).
``fused`` nodes (made by the elementwise fusion pass) are written out step by step, and a program
that is exactly a softmax, log-softmax, layer normalization or GELU (erf or tanh form) is written as
that ONNX op; ``fused_matmul`` nodes (pattern fusion) as Transpose/MatMul plus their epilogue program.

Dtypes: every op is written at the graph's dtype, never silently narrowed. ONNX Runtime's CPU provider
lacks double kernels for a few standard ops: Conv, AveragePool, GlobalAveragePool, Tan and the inverse
and hyperbolic trigonometric ops stay the standard op (valid ONNX; runtimes with double kernels and
``onnx.reference`` run them), while a float64 ``erf`` (and GELU, whose ONNX Gelu is Erf-based) is written
as a piecewise polynomial of standard ops within 3 ulp of libm's erf (``onnx_erf.py``): NumPy code is
float64 by default and GELU is common, so those models run in ONNX Runtime too.

Names: the ONNX node that computes a graphscope node is named ``/<scope>/<name>`` and carries the
node's scope, name, op, id and source line in its ``metadata_props`` (``graphscope.*`` keys, read
back by ``from_onnx``); helper nodes of a decomposition are named ``/<scope>/<name>/<OpType>``.
Constants become initializers; with ``external_data`` (automatic above ~1.8 GB) they go to a
``<model>.data`` file beside the model. ``onnx.checker`` runs a full check (with strict shape
inference) on every export. Opsets 13 to the installed onnx's newest are written; an op that needs
a newer opset than requested is reported, for all such nodes at once, with the opset to use
(``layer_norm``: 17, ONNX LayerNormalization; ``cumprod``: 26, ONNX CumProd, which ONNX Runtime 1.32 runs).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphscope.formats.onnx_common import OnnxExportError, onnx_type, require_onnx
from graphscope.ir.graph import Graph, Node
from graphscope.ir.spec import TensorSpec

MIN_OPSET = 13
DEFAULT_OPSET = 17
EXTERNAL_AUTO_BYTES = 1800 << 20  # protobuf cannot hold a model over 2 GiB
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
META_PREFIX = "graphscope."


class _NeedsOpset(Exception):
    def __init__(self, opset: int, what: str) -> None:
        super().__init__(what)
        self.opset = opset
        self.what = what


# ---------------------------------------------------------------------------------------------
# public entry points


def to_onnx(
    graph: Graph,
    path: str | os.PathLike | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    external_data: bool | None = None,
    check: bool = True,
    name: str | None = None,
) -> Any:
    """Export ``graph`` as an ``onnx.ModelProto`` (and write it to ``path`` when given).

    ``external_data``: True stores constants in ``<path>.data`` beside the model, False never does,
    None (default) does when they exceed ~1.8 GB. ``check`` runs ``onnx.checker.check_model`` with
    ``full_check=True`` (strict shape inference) and raises its error on failure.
    """
    onnx = require_onnx("ONNX export")
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(f"opset must be an int from {MIN_OPSET} to {newest} (the installed onnx {onnx.__version__} "
                              f"knows up to {newest}), got {opset!r}")
    model = _Exporter(onnx, graph, opset, name).run()
    total = sum(_tensor_bytes(t) for t in model.graph.initializer)
    external = total > EXTERNAL_AUTO_BYTES if external_data is None else bool(external_data)
    if external and path is None:
        raise OnnxExportError(f"graph '{graph.name}' has {total / 2**30:.2f} GiB of constants, more than one ONNX file "
                              "holds: pass a path so they can go to an external data file")
    if path is None:
        if check:
            onnx.checker.check_model(model, full_check=True)
        return model
    path = os.fspath(path)
    if external:
        _save_external(onnx, model, path, check)
        return model
    if check:
        onnx.checker.check_model(model, full_check=True)
    from graphscope.formats._io import atomic_write

    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return model


def save(graph: Graph, path: str | os.PathLike, **options: Any) -> None:
    """The format registry's writer for ``.onnx`` files (options as for ``to_onnx``)."""
    to_onnx(graph, path, **options)


def _tensor_bytes(t: Any) -> int:
    return len(t.raw_data) if t.raw_data else int(np.prod(t.dims or [1])) * 8


def _save_external(onnx: Any, model: Any, path: str, check: bool) -> None:
    """``path`` and its ``<name>.data`` file, written in a fresh directory beside them and then renamed into place
    (data first): a failure (the checker, a full disk) leaves the previous files as they were."""
    import shutil
    import tempfile

    from onnx.external_data_helper import convert_model_to_external_data

    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    location = name + ".data"
    copy = type(model)()
    copy.CopyFrom(model)  # keep the caller's model self-contained (CopyFrom, not a serialization: it may exceed 2 GiB)
    model = copy
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location=location, size_threshold=1024)
    staging = tempfile.mkdtemp(prefix=f".{name}.", dir=directory)
    try:
        onnx.save_model(model, os.path.join(staging, name))
        if check:
            onnx.checker.check_model(os.path.join(staging, name), full_check=True)
        # onnx creates the data file 0600; give it the model file's mode (a plain open(): 0666 minus the umask)
        os.chmod(os.path.join(staging, location), os.stat(os.path.join(staging, name)).st_mode & 0o777)
        for part in (location, name):
            os.replace(os.path.join(staging, part), os.path.join(directory, part))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the exporter


class _Exporter:
    def __init__(self, onnx: Any, graph: Graph, opset: int, name: str | None) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.graph = graph
        self.opset = opset
        self.name = name or graph.name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.value_info: list[Any] = []
        self.used: set[str] = set()
        self.value: dict[int, str] = {}
        self.const_cache: dict[tuple, str] = {}
        self.problems: list[tuple[int, str]] = []

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def run(self) -> Any:
        h, g = self.helper, self.graph
        for n in g.nodes:
            self.used.add(n.name)
        inputs = []
        for n in g.inputs:
            self.value[n.id] = n.name
            inputs.append(h.make_tensor_value_info(n.name, onnx_type(n.dtype), list(n.shape)))
        for n in g.nodes:
            if n.op == "placeholder":
                if n.id not in self.value:
                    raise OnnxExportError(f"{n.describe()} is a placeholder but not a graph input")
                continue
            if n.op == "constant":
                self.value[n.id] = n.name
                self.initializers.append(self.onnx.numpy_helper.from_array(_contiguous(n.value), n.name))
                continue
            try:
                self._export_node(n)
            except _NeedsOpset as exc:
                self.problems.append((exc.opset, f"{n.describe()}: {exc.what}"))
                self.value[n.id] = n.name  # keep going: report every node that needs a newer opset
        if self.problems:
            need = max(o for o, _ in self.problems)
            listed = "; ".join(w for _, w in self.problems[:20])
            more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
            raise OnnxExportError(f"cannot export graph '{g.name}' at opset {self.opset}: {len(self.problems)} node(s) need a "
                                  f"newer opset: {listed}{more}. Export with opset={need} or newer.")
        outputs, seen = [], set()
        for k, n in enumerate(g.outputs):
            name = self.value[n.id]
            if name in seen or n.op in ("placeholder", "constant"):
                alias = self.fresh(f"{n.name}:output{k}")
                self.nodes.append(h.make_node("Identity", [name], [alias], name=f"/{n.name}/output{k}"))
                name = alias
            seen.add(name)
            outputs.append(h.make_tensor_value_info(name, onnx_type(n.dtype), list(n.shape)))
        out_names = {o.name for o in outputs}
        self.value_info = [vi for vi in self.value_info if vi.name not in out_names]
        graph = h.make_graph(self.nodes, self.name, inputs, outputs, self.initializers, value_info=self.value_info)
        ir = max(h.find_min_ir_version_for([h.make_opsetid("", self.opset)]), 10)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", self.opset)], ir_version=ir,
                             producer_name="graphscope", producer_version=_version())
        meta = {k: v for k, v in g.metadata.items() if k != "onnx"}
        try:
            text = json.dumps(meta, default=str)
        except (TypeError, ValueError):
            text = "{}"
        if len(text) < (1 << 20):
            h.set_model_props(model, {f"{META_PREFIX}metadata": text, f"{META_PREFIX}graph_name": g.name})
        return model

    def _export_node(self, n: Node) -> None:
        exporter = EXPORTERS.get(n.op)
        if exporter is None:
            raise OnnxExportError(f"{n.describe()}: op '{n.op}' has no ONNX export")
        em = _Emit(self, n.name, n)
        result = exporter(em, [self.value[i.id] for i in n.inputs], [i.spec for i in n.inputs], n.spec, n.attrs)
        self.value[n.id] = em.finish(result, n.name, n)
        self.value_info.append(self.helper.make_tensor_value_info(self.value[n.id], onnx_type(n.dtype), list(n.shape)))


def _contiguous(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    return np.ascontiguousarray(arr).reshape(arr.shape)  # ascontiguousarray makes 0-d arrays 1-d


def _version() -> str:
    try:
        from graphscope import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "unknown"


class _Emit:
    """Builds the ONNX nodes of one graphscope node (or one step of a fused program)."""

    def __init__(self, ex: _Exporter, label: str, node: Node | None) -> None:
        self.ex = ex
        self.label = label
        self.node = node
        self.opset = ex.opset
        self.start = len(ex.nodes)
        self.k = 0

    def need(self, opset: int, what: str) -> None:
        if self.opset < opset:
            raise _NeedsOpset(opset, what)

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        self.k += 1
        out = self.ex.fresh(f"{self.label}/{op_type}")
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.ex.nodes.append(self.ex.helper.make_node(op_type, list(inputs), [out], name=f"/{self.label}/{op_type}_{self.k}",
                                                      **attrs))
        return out

    def op_outputs(self, op_type: str, inputs: Sequence[str], n_outputs: int, **attrs: Any) -> list[str]:
        self.k += 1
        outs = [self.ex.fresh(f"{self.label}/{op_type}:{i}") for i in range(n_outputs)]
        self.ex.nodes.append(self.ex.helper.make_node(op_type, list(inputs), outs, name=f"/{self.label}/{op_type}_{self.k}",
                                                      **attrs))
        return outs

    def const(self, value: Any, dtype: Any = None) -> str:
        arr = _contiguous(np.asarray(value, dtype=dtype))
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 64 else None
        if key is not None and key in self.ex.const_cache:
            return self.ex.const_cache[key]
        name = self.ex.fresh(f"{self.label}/const")
        self.ex.initializers.append(self.ex.onnx.numpy_helper.from_array(arr, name))
        if key is not None:
            self.ex.const_cache[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.array(list(values), dtype=np.int64))

    def cast(self, name: str, src: np.dtype, dst: Any) -> str:
        dst = np.dtype(dst)
        return name if np.dtype(src) == dst else self.op("Cast", [name], to=onnx_type(dst))

    def finish(self, result: str, target: str, node: Node | None) -> str:
        """Give the result the graphscope node's name and metadata (or an Identity when it is not fresh)."""
        ex, h = self.ex, self.ex.helper
        mine = ex.nodes[self.start:]
        producer = next((p for p in reversed(mine) if result in p.output), None)
        read_later = any(result in p.input for p in mine)
        if producer is None or read_later:
            producer = h.make_node("Identity", [result], [target], name=f"/{target}")
            ex.nodes.append(producer)
        else:
            producer.output[list(producer.output).index(result)] = target
            producer.name = f"/{target}"
        if node is not None:
            props = {"name": node.name, "scope": node.scope, "op": node.op, "id": str(node.id)}
            if node.source:
                props["source"] = node.source
                producer.doc_string = node.source
            for key, value in props.items():
                p = producer.metadata_props.add()
                p.key, p.value = META_PREFIX + key, value
        return target


# ---------------------------------------------------------------------------------------------
# per-op exporters: (emit, input names, input specs, output spec, attrs) -> name of the result

Exporter = Callable[[_Emit, list[str], list[TensorSpec], TensorSpec, dict[str, Any]], str]


def _casted(e: _Emit, xs: list[str], specs: list[TensorSpec], dtype: Any) -> list[str]:
    return [e.cast(x, s.dtype, dtype) for x, s in zip(xs, specs)]


_ARITH_NATIVE = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"}


def _arith(onnx_op: str, bool_op: str | None = None) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        if out.dtype == np.bool_:
            if bool_op is None:
                raise OnnxExportError(f"{e.label}: {onnx_op} of booleans has no ONNX equivalent")
            return e.op(bool_op, _casted(e, xs, specs, np.bool_))
        return e.op(onnx_op, _casted(e, xs, specs, out.dtype))

    return fn


def _div(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("Div", _casted(e, xs, specs, out.dtype))


def _floordiv(e: _Emit, xs, specs, out, attrs) -> str:
    a, b = _casted(e, xs, specs, out.dtype)
    if out.dtype.kind == "f":
        return e.op("Floor", [e.op("Div", [a, b])])
    # (a - floor_mod(a, b)) is an exact multiple of b, so ONNX's truncating division is exact.
    return e.op("Div", [e.op("Sub", [a, e.op("Mod", [a, b], fmod=0)]), b])


def _mod(e: _Emit, xs, specs, out, attrs) -> str:
    a, b = _casted(e, xs, specs, out.dtype)
    if out.dtype.kind != "f":
        return e.op("Mod", [a, b], fmod=0)
    # NumPy's remainder takes the divisor's sign: C fmod, plus b where the signs disagree.
    r = e.op("Mod", [a, b], fmod=1)
    zero = e.const(0, out.dtype)
    fix = e.op("And", [e.op("Not", [e.op("Equal", [r, zero])]),
                       e.op("Xor", [e.op("Less", [r, zero]), e.op("Less", [b, zero])])])
    return e.op("Where", [fix, e.op("Add", [r, b]), r])


def _pow(e: _Emit, xs, specs, out, attrs) -> str:
    dt = out.dtype
    wide = dt if dt.name in ("int32", "int64", "float16", "float32", "float64") else np.dtype(np.int64 if dt.kind in "iu" else dt)
    a, b = _casted(e, xs, specs, wide)
    return e.cast(e.op("Pow", [a, b]), wide, dt)


def _compare(onnx_op: str, negate: bool = False) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        dt = np.result_type(*(s.dtype for s in specs))
        if dt == np.bool_ and onnx_op != "Equal":
            dt = np.dtype(np.uint8)
        r = e.op(onnx_op, _casted(e, xs, specs, dt))
        return e.op("Not", [r]) if negate else r

    return fn


def _logical(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        return e.op(onnx_op, _casted(e, xs, specs, np.bool_))

    return fn


def _float_unary(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        return e.op(onnx_op, _casted(e, xs, specs, out.dtype))

    return fn


def _neg(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    if out.dtype == np.uint8:
        return e.op("Sub", [e.const(0, out.dtype), x])
    return e.op("Neg", [x])


def _square(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    return e.op("Mul", [x, x])


def _reciprocal(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    if out.dtype.kind == "f":
        return e.op("Reciprocal", [x])
    return e.op("Div", [e.const(1, out.dtype), x])


def _round_like(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        (x,) = _casted(e, xs, specs, out.dtype)
        return e.op(onnx_op, [x]) if out.dtype.kind == "f" else e.op("Identity", [x])

    return fn


def _rsqrt(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    return e.op("Reciprocal", [e.op("Sqrt", [x])])


def _relu(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    if out.dtype.kind == "f" or (out.dtype.kind == "i" and e.opset >= 14):
        return e.op("Relu", [x])
    if out.dtype.kind in "ub":
        return e.op("Identity", [x])
    return e.op("Max", [x, e.const(0, out.dtype)])


def _erf(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    return _erf_value(e, x, out.dtype)


def _erf_value(e: _Emit, x: str, dt: np.dtype) -> str:
    if dt == np.float64:  # ONNX Runtime has no double Erf kernel: standard ops, within 3 ulp (onnx_erf.py)
        from graphscope.formats.onnx_erf import emit_erf64

        return emit_erf64(e, x)
    return e.op("Erf", [x])


def _gelu(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    approx = attrs.get("approximate", "none")
    if e.opset >= 20 and out.dtype != np.float64:  # ONNX Runtime's Gelu, like its Erf, has no double kernel
        return e.op("Gelu", [x], approximate=approx)
    return _gelu_formula(e, x, out.dtype, approx)


def _gelu_formula(e: _Emit, x: str, dt: np.dtype, approx: str) -> str:
    c = lambda v: e.const(v, dt)  # noqa: E731
    if approx == "tanh":
        inner = e.op("Add", [x, e.op("Mul", [e.op("Mul", [e.op("Mul", [x, x]), x]), c(0.044715)])])
        t = e.op("Tanh", [e.op("Mul", [inner, c(math.sqrt(2.0 / math.pi))])])
    else:
        t = _erf_value(e, e.op("Mul", [x, c(1 / math.sqrt(2.0))]), dt)
    return e.op("Mul", [e.op("Mul", [x, c(0.5)]), e.op("Add", [t, c(1.0)])])


def _where(e: _Emit, xs, specs, out, attrs) -> str:
    cond = e.cast(xs[0], specs[0].dtype, np.bool_)
    a, b = _casted(e, xs[1:], specs[1:], out.dtype)
    return e.op("Where", [cond, a, b])


def _clip(e: _Emit, xs, specs, out, attrs) -> str:
    (x,) = _casted(e, xs, specs, out.dtype)
    lo = "" if attrs["min"] is None else e.const(attrs["min"], out.dtype)
    hi = "" if attrs["max"] is None else e.const(attrs["max"], out.dtype)
    if out.dtype == np.bool_:
        raise OnnxExportError(f"{e.label}: clip of booleans has no ONNX equivalent")
    return e.op("Clip", [x, lo, hi] if hi else [x, lo])


def _cast(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("Cast", xs, to=onnx_type(out.dtype))


def _identity(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("Identity", xs)


# -- linear algebra ------------------------------------------------------------------------------


def _wide_int(dt: np.dtype) -> np.dtype:
    if dt == np.bool_:
        return np.dtype(np.int32)
    return np.dtype(np.int64) if dt.kind in "iu" and dt.name not in ("int32", "int64") else dt


def _matmul(e: _Emit, xs, specs, out, attrs) -> str:
    wide = _wide_int(out.dtype)
    r = e.op("MatMul", _casted(e, xs, specs, wide))
    if out.dtype == np.bool_:
        return e.op("Greater", [r, e.const(0, wide)])
    return e.cast(r, wide, out.dtype)


def _fused_matmul(e: _Emit, xs, specs, out, attrs) -> str:
    """Transpose(s), MatMul, then the epilogue program as a fused program (graphscope/ir/op_defs/fused_matmul.py)."""
    from graphscope.ir.op_defs.fused_matmul import operand_specs, product_spec

    a, b, *extras = xs
    ta, tb = operand_specs(specs, attrs)
    if attrs["transpose_a"]:
        a = e.op("Transpose", [a], perm=_swap_last_two(specs[0].ndim))
    if attrs["transpose_b"]:
        b = e.op("Transpose", [b], perm=_swap_last_two(specs[1].ndim))
    prod = product_spec(specs, attrs)
    y = _matmul(e, [a, b], [ta, tb], prod, {})
    if not attrs["epilogue"]:
        return y
    return _fused(e, [y, *extras], [prod, *specs[2:]], out, {"program": attrs["epilogue"]})


def _swap_last_two(ndim: int) -> list[int]:
    return list(range(ndim - 2)) + [ndim - 1, ndim - 2]


def _einsum(e: _Emit, xs, specs, out, attrs) -> str:
    wide = _wide_int(out.dtype)
    r = e.op("Einsum", _casted(e, xs, specs, wide), equation=attrs["equation"])
    if out.dtype == np.bool_:
        return e.op("Greater", [r, e.const(0, wide)])
    return e.cast(r, wide, out.dtype)


def _softmax(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        (x,) = _casted(e, xs, specs, out.dtype)
        return e.op(onnx_op, [x], axis=int(attrs["axis"]))

    return fn


def _layer_norm(e: _Emit, xs, specs, out, attrs) -> str:
    e.need(17, "layer_norm is ONNX LayerNormalization, new in opset 17")
    x, *params = _casted(e, xs, specs, out.dtype)
    nd = specs[0].ndim
    axis = int(attrs["axis"]) % nd
    inner = specs[0].shape[axis:]
    full = []
    for p, s, default in zip(params + [None, None], specs[1:] + [None, None], (1.0, 0.0)):
        if p is None:
            full.append(e.const(np.full(inner, default, dtype=out.dtype)) if default == 1.0 else None)
        elif s.shape != inner:
            full.append(e.op("Expand", [p, e.ints(inner)]))
        else:
            full.append(p)
    inputs = [x, full[0]] + ([full[1]] if full[1] is not None else [])
    stash = 11 if out.dtype == np.float64 else 1
    return e.op("LayerNormalization", inputs, axis=axis, epsilon=float(attrs["epsilon"]), stash_type=stash)


def _batch_norm(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("BatchNormalization", _casted(e, xs, specs, out.dtype), epsilon=float(attrs["epsilon"]))


def _conv2d(e: _Emit, xs, specs, out, attrs) -> str:
    wide = out.dtype if out.dtype.kind == "f" else np.dtype(np.float64)
    ins = _casted(e, xs, specs, wide)
    _, _, kh, kw = specs[1].shape
    t, left, b, r = _pad4(attrs["padding"])
    y = e.op("Conv", ins, kernel_shape=[kh, kw], strides=list(_pair(attrs["stride"])), pads=[t, left, b, r],
             dilations=list(_pair(attrs["dilation"])), group=int(attrs["groups"]))
    return e.cast(y, wide, out.dtype)


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad4(v: Any) -> tuple[int, int, int, int]:
    if isinstance(v, int):
        return (v, v, v, v)
    v = tuple(v)
    return (v[0], v[1], v[0], v[1]) if len(v) == 2 else v


def _pool(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        kernel = _pair(attrs["kernel_size"])
        stride = kernel if attrs["stride"] is None else _pair(attrs["stride"])
        src = specs[0].dtype
        if onnx_op == "MaxPool":
            wide = src if src.name in ("float16", "float32", "float64", "int8", "uint8") else np.dtype(np.float64)
        else:
            wide = out.dtype
        (x,) = _casted(e, xs, specs, wide)
        extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
        y = e.op(onnx_op, [x], kernel_shape=list(kernel), strides=list(stride), pads=list(_pad4(attrs["padding"])), **extra)
        return e.cast(y, wide, out.dtype)

    return fn


def _global_avg_pool(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("GlobalAveragePool", _casted(e, xs, specs, out.dtype))


# -- reductions ----------------------------------------------------------------------------------


def _axes_of(attrs: dict[str, Any], ndim: int) -> list[int] | None:
    axis = attrs.get("axis")
    if axis is None:
        return None
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes) if ndim else []


def _reduce_op(e: _Emit, onnx_op: str, x: str, axes: list[int] | None, keepdims: bool) -> str:
    since = 13 if onnx_op == "ReduceSum" else 18
    if axes is None:
        return e.op(onnx_op, [x], keepdims=int(keepdims))
    if not axes:
        return e.op("Identity", [x])
    if e.opset >= since:
        return e.op(onnx_op, [x, e.ints(axes)], keepdims=int(keepdims))
    return e.op(onnx_op, [x], axes=axes, keepdims=int(keepdims))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd"}


def _reduce(op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        dt = out.dtype
        wide = dt
        if dt == np.bool_ and (op in ("sum", "prod") or e.opset < 20):
            wide = np.dtype(np.uint8)
        elif dt == np.int16 and op in ("max", "min"):  # ONNX ReduceMax/Min have no int16
            wide = np.dtype(np.int32)
        (x,) = _casted(e, xs, specs, wide)
        y = _reduce_op(e, _REDUCE[op], x, _axes_of(attrs, specs[0].ndim), bool(attrs["keepdims"]))
        return e.cast(y, wide, dt)

    return fn


def _var_std(op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        (x,) = _casted(e, xs, specs, out.dtype)
        axes = _axes_of(attrs, specs[0].ndim)
        all_axes = list(range(specs[0].ndim)) if axes is None else axes
        n = int(np.prod([specs[0].shape[a] for a in all_axes]))
        mean = _reduce_op(e, "ReduceMean", x, axes, True)
        d = e.op("Sub", [x, mean])
        s = _reduce_op(e, "ReduceSum", e.op("Mul", [d, d]), axes, bool(attrs["keepdims"]))
        v = e.op("Div", [s, e.const(max(n - int(attrs["ddof"]), 0), out.dtype)])
        return e.op("Sqrt", [v]) if op == "std" else v

    return fn


def _arg(onnx_op: str) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        x = xs[0]
        if specs[0].dtype == np.bool_:
            x = e.cast(x, np.bool_, np.uint8)
        keep = bool(attrs["keepdims"])
        if attrs["axis"] is None:
            flat = e.op("Reshape", [x, e.ints([-1])])
            r = e.op(onnx_op, [flat], axis=0, keepdims=0)
            return e.op("Reshape", [r, e.ints(out.shape)]) if keep else r
        return e.op(onnx_op, [x], axis=int(attrs["axis"]) % specs[0].ndim, keepdims=int(keep))

    return fn


# -- shapes ---------------------------------------------------------------------------------------


def _reshape_to(e: _Emit, x: str, shape: Sequence[int]) -> str:
    extra = {"allowzero": 1} if 0 in shape and e.opset >= 14 else {}
    return e.op("Reshape", [x, e.ints(shape)], **extra)


def _reshape(e: _Emit, xs, specs, out, attrs) -> str:
    return _reshape_to(e, xs[0], out.shape)


def _transpose(e: _Emit, xs, specs, out, attrs) -> str:
    nd = specs[0].ndim
    perm = attrs["perm"]
    perm = list(reversed(range(nd))) if perm is None else [p % nd for p in perm]
    return e.op("Transpose", xs, perm=perm)


def _unsqueeze(e: _Emit, x: str, axes: Sequence[int]) -> str:
    return e.op("Unsqueeze", [x, e.ints(axes)])


def _expand_dims(e: _Emit, xs, specs, out, attrs) -> str:
    from graphscope.ir.op_defs.shape import expand_dims_axes

    return _unsqueeze(e, xs[0], expand_dims_axes(attrs["axis"], specs[0].ndim))


def _squeeze(e: _Emit, xs, specs, out, attrs) -> str:
    from graphscope.ir.op_defs.shape import squeeze_axes

    axes = squeeze_axes(specs[0].shape, attrs["axis"])
    if not axes:
        return e.op("Identity", xs)
    return e.op("Squeeze", [xs[0], e.ints(axes)])


def _broadcast_to(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("Expand", [xs[0], e.ints(out.shape)])


def _getitem(e: _Emit, xs, specs, out, attrs) -> str:
    starts, ends, axes, steps = [], [], [], []
    axis = 0
    for item in attrs["index"]:
        if item is None:
            continue
        if isinstance(item, tuple):
            _, start, stop, step = item
            step = 1 if step is None else step
            start = (0 if step > 0 else INT64_MAX) if start is None else start
            stop = (INT64_MAX if step > 0 else INT64_MIN) if stop is None else stop
            if (start, stop, step) != (0, INT64_MAX, 1):
                starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
        else:
            i = item % specs[0].shape[axis]
            starts.append(i), ends.append(i + 1), axes.append(axis), steps.append(1)
        axis += 1
    x = xs[0]
    if axes:
        x = e.op("Slice", [x, e.ints(starts), e.ints(ends), e.ints(axes), e.ints(steps)])
    sliced = list(specs[0].shape)
    for s, st, a, p in zip(starts, ends, axes, steps):
        sliced[a] = len(range(*slice(s, None if st in (INT64_MAX, INT64_MIN) else st, p).indices(specs[0].shape[a])))
    if tuple(sliced) != out.shape:
        x = _reshape_to(e, x, out.shape)
    return x if x != xs[0] else e.op("Identity", xs)


def _concat(e: _Emit, xs, specs, out, attrs) -> str:
    return e.op("Concat", _casted(e, xs, specs, out.dtype), axis=int(attrs["axis"]) % out.ndim)


def _stack(e: _Emit, xs, specs, out, attrs) -> str:
    axis = int(attrs["axis"]) % out.ndim
    parts = [_unsqueeze(e, x, [axis]) for x in _casted(e, xs, specs, out.dtype)]
    return e.op("Concat", parts, axis=axis)


def _gather(e: _Emit, xs, specs, out, attrs) -> str:
    idx = xs[1] if specs[1].dtype.name in ("int32", "int64") else e.cast(xs[1], specs[1].dtype, np.int64)
    return e.op("Gather", [xs[0], idx], axis=int(attrs["axis"]) % specs[0].ndim)


def _pad(e: _Emit, xs, specs, out, attrs) -> str:
    widths = attrs["pad_width"]
    pads = [int(b) for b, _ in widths] + [int(a) for _, a in widths]
    mode = attrs["mode"]
    onnx_mode = {"constant": "constant", "edge": "edge", "reflect": "reflect"}[mode]
    inputs = [xs[0], e.ints(pads)]
    if mode == "constant":
        value = np.array(attrs["constant_value"]).astype(specs[0].dtype)
        inputs.append(e.const(value))
    return e.op("Pad", inputs, mode=onnx_mode)


# -- ops of graphscope/ir/op_defs/onnx_extra.py ---------------------------------------------------------


def _cumulative(onnx_op: str, since: int) -> Exporter:
    def fn(e: _Emit, xs, specs, out, attrs) -> str:
        e.need(since, f"{onnx_op} is new in opset {since}")
        return e.op(onnx_op, [xs[0], e.const(np.array(int(attrs["axis"]) % specs[0].ndim, dtype=np.int64))],
                    exclusive=int(bool(attrs["exclusive"])), reverse=int(bool(attrs["reverse"])))

    return fn


def _argsort(e: _Emit, xs, specs, out, attrs) -> str:
    axis = int(attrs["axis"]) % specs[0].ndim
    x = xs[0] if specs[0].dtype != np.bool_ else e.cast(xs[0], np.bool_, np.uint8)
    # TopK over the whole axis is a sort; ONNX keeps equal values in index order, as argsort's stable sort does.
    _, indices = e.op_outputs("TopK", [x, e.ints([specs[0].shape[axis]])], 2, axis=axis,
                              largest=int(bool(attrs["descending"])), sorted=1)
    return indices


# -- fused programs ---------------------------------------------------------------------------------


def _fused(e: _Emit, xs, specs, out, attrs) -> str:
    from graphscope.ir.op_defs.fused import LITERAL, program_specs

    program = attrs["program"]
    all_specs = program_specs(tuple(specs), program)
    n = len(xs)
    names: dict[int, str] = dict(enumerate(xs))
    patterns = _match_patterns(program, n, all_specs, e.opset)

    def value(ref: int) -> str:
        if ref in names:
            return names[ref]
        j = ref - n
        if ref in patterns:
            op_type, args, kw = patterns[ref]
            names[ref] = e.op(op_type, [value(a) if isinstance(a, int) else a(e) for a in args], **kw)
            return names[ref]
        op, args, pairs = program[j]
        if op == LITERAL:
            a = dict(pairs)
            names[ref] = e.const(np.array(a["value"], dtype=a["dtype"]).reshape(tuple(a["shape"])))
            return names[ref]
        exporter = EXPORTERS[op]
        from graphscope.ir.ops import get_op

        step_attrs = get_op(op).normalize_attrs(dict(pairs))
        names[ref] = exporter(e, [value(a) for a in args], [all_specs[a] for a in args], all_specs[ref], step_attrs)
        return names[ref]

    return value(n + len(program) - 1)


def _match_patterns(program: tuple, n: int, specs: tuple, opset: int) -> dict[int, tuple]:
    """Program values that are exactly an ONNX op: ref -> (op type, args (refs or const makers), attrs).

    Recognized (as the fusion pass lowers them): softmax ``exp(x - max) / sum(exp(x - max))`` and
    log-softmax ``(x - max) - log(sum(exp(x - max)))`` over the last axis; layer normalization
    ``(x - mean) * reciprocal(sqrt(mean((x - mean)^2) + eps))`` (opset 17+); GELU (opset 20+).
    """
    from graphscope.ir.op_defs.fused import LITERAL

    def step(ref: int) -> tuple | None:
        return program[ref - n] if ref >= n else None

    def is_op(ref: int, op: str, last_axis: bool = False) -> tuple | None:
        s = step(ref)
        if s is None or s[0] != op:
            return None
        if last_axis:
            a = dict(s[2])
            nd = specs[s[1][0]].ndim
            axis = a.get("axis")
            axes = (axis,) if isinstance(axis, int) else tuple(axis or ())
            if nd == 0 or tuple(x % nd for x in axes) != (nd - 1,) or not a.get("keepdims"):
                return None
        return s

    def literal(ref: int) -> float | None:
        s = step(ref)
        if s is None or s[0] != LITERAL:
            return None
        a = dict(s[2])
        return float(np.asarray(a["value"]).reshape(-1)[0]) if np.asarray(a["value"]).size == 1 else None

    def shifted(ref: int) -> int | None:
        """x for ref = sub(x, max(x, last axis))."""
        s = is_op(ref, "sub")
        if s is None:
            return None
        x, m = s[1]
        ms = is_op(m, "max", True)
        return x if ms is not None and ms[1][0] == x else None

    def centered(ref: int) -> int | None:
        s = is_op(ref, "sub")
        if s is None:
            return None
        x, m = s[1]
        ms = is_op(m, "mean", True)
        return x if ms is not None and ms[1][0] == x else None

    found: dict[int, tuple] = {}
    for j, (op, args, _) in enumerate(program):
        ref = n + j
        spec = specs[ref]
        if spec.dtype.kind != "f" or spec.ndim == 0:
            continue
        axis = spec.ndim - 1
        if op == "div" and len(args) == 2:  # softmax
            ex, s = args
            es, ss = is_op(ex, "exp"), is_op(s, "sum", True)
            if es and ss and ss[1][0] == ex:
                x = shifted(es[1][0])
                if x is not None and specs[x].dtype == spec.dtype:
                    found[ref] = ("Softmax", [x], {"axis": axis})
        elif op == "sub" and len(args) == 2:  # log-softmax
            d, lg = args
            ls = is_op(lg, "log")
            x = shifted(d)
            if ls and x is not None and specs[x].dtype == spec.dtype:
                ss = is_op(ls[1][0], "sum", True)
                es = ss and is_op(ss[1][0], "exp")
                if es and es[1][0] == d:
                    found[ref] = ("LogSoftmax", [x], {"axis": axis})
        elif op == "mul" and len(args) == 2:  # layer normalization (opset 17+) or GELU (opset 20+)
            hit = _layer_norm_pattern(args, spec, opset, is_op, literal, centered, specs)
            hit = hit or _gelu_pattern(args, spec, opset, is_op, literal)
            if hit:
                found[ref] = hit
    return found


def _layer_norm_pattern(args, spec, opset, is_op, literal, centered, specs) -> tuple | None:
    """``(x - mean) * reciprocal(sqrt(mean((x - mean)^2) + eps))`` over the last axis: LayerNormalization."""
    if opset < 17:
        return None
    for d, r in (args, args[::-1]):
        rs = is_op(r, "reciprocal")
        sq = rs and is_op(rs[1][0], "sqrt")
        ad = sq and is_op(sq[1][0], "add")
        if not ad:
            continue
        var, eps_ref = ad[1]
        if literal(eps_ref) is None:
            var, eps_ref = eps_ref, var
        eps = literal(eps_ref)
        vs = is_op(var, "mean", True)
        mu = vs and is_op(vs[1][0], "mul")
        x = centered(d)
        if eps is not None and mu and mu[1] == (d, d) and x is not None and specs[x].dtype == spec.dtype:
            inner, dt = spec.shape[-1], spec.dtype
            ones = lambda e, inner=inner, dt=dt: e.const(np.ones(inner, dtype=dt))  # noqa: E731
            return ("LayerNormalization", [x, ones], {"axis": -1, "epsilon": eps, "stash_type": 11 if dt == np.float64 else 1})
    return None


def _gelu_pattern(args, spec, opset, is_op, literal) -> tuple | None:
    """GELU as the fusion pass lowers it (graphscope/passes/fusion.py ``_lower_gelu``): ``(t + 1) * x * 0.5`` with
    t = erf(x * 1/sqrt(2)), or t = tanh((x*x * (0.044715 * x) + x) * sqrt(2/pi)) for the tanh approximation.
    Not for float64: ONNX Runtime's Gelu has no double kernel (the steps are written out instead)."""
    if opset < 20 or spec.dtype == np.float64:
        return None

    def close(ref: int, value: float) -> bool:
        v = literal(ref)
        return v is not None and abs(v - value) <= 1e-6 * abs(value)

    inner, half = args if close(args[1], 0.5) else args[::-1]
    ms = close(half, 0.5) and is_op(inner, "mul")
    if not ms:
        return None
    for t1, x in (ms[1], ms[1][::-1]):
        ad = is_op(t1, "add")
        if not ad:
            continue
        t, one = ad[1] if close(ad[1][1], 1.0) else ad[1][::-1]
        if not close(one, 1.0):
            continue
        es = is_op(t, "erf")
        if es:
            m = is_op(es[1][0], "mul")
            if m and m[1][0] == x and close(m[1][1], 1 / math.sqrt(2.0)):
                return ("Gelu", [x], {"approximate": "none"})
        ts = is_op(t, "tanh")
        if ts:
            m = is_op(ts[1][0], "mul")  # (x*x * (0.044715 * x) + x) * sqrt(2/pi)
            a = m and close(m[1][1], math.sqrt(2.0 / math.pi)) and is_op(m[1][0], "add")
            cube = a and a[1][1] == x and is_op(a[1][0], "mul")
            sq = cube and is_op(cube[1][0], "mul")
            k = cube and is_op(cube[1][1], "mul")
            if sq and sq[1] == (x, x) and k and close(k[1][0], 0.044715) and k[1][1] == x:
                return ("Gelu", [x], {"approximate": "tanh"})
    return None


# ---------------------------------------------------------------------------------------------
# the table

EXPORTERS: dict[str, Exporter] = {
    "add": _arith("Add", "Or"), "sub": _arith("Sub"), "mul": _arith("Mul", "And"), "div": _div,
    "floordiv": _floordiv, "mod": _mod, "pow": _pow, "maximum": _arith("Max", "Or"), "minimum": _arith("Min", "And"),
    "equal": _compare("Equal"), "not_equal": _compare("Equal", negate=True), "less": _compare("Less"),
    "less_equal": _compare("LessOrEqual"), "greater": _compare("Greater"), "greater_equal": _compare("GreaterOrEqual"),
    "logical_and": _logical("And"), "logical_or": _logical("Or"), "logical_not": _logical("Not"),
    "neg": _neg, "abs": _float_unary("Abs"), "sign": _float_unary("Sign"), "exp": _float_unary("Exp"),
    "log": _float_unary("Log"), "sqrt": _float_unary("Sqrt"), "square": _square, "reciprocal": _reciprocal,
    "tanh": _float_unary("Tanh"), "sin": _float_unary("Sin"), "cos": _float_unary("Cos"),
    "floor": _round_like("Floor"), "ceil": _round_like("Ceil"), "rsqrt": _rsqrt, "sigmoid": _float_unary("Sigmoid"),
    "relu": _relu, "erf": _erf, "gelu": _gelu, "where": _where, "clip": _clip, "cast": _cast,
    "fused_matmul": _fused_matmul,
    "matmul": _matmul, "einsum": _einsum, "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "layer_norm": _layer_norm, "batch_norm": _batch_norm, "conv2d": _conv2d, "max_pool2d": _pool("MaxPool"),
    "avg_pool2d": _pool("AveragePool"), "global_avg_pool": _global_avg_pool,
    "sum": _reduce("sum"), "mean": _reduce("mean"), "max": _reduce("max"), "min": _reduce("min"), "prod": _reduce("prod"),
    "var": _var_std("var"), "std": _var_std("std"), "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"),
    "reshape": _reshape, "transpose": _transpose, "expand_dims": _expand_dims, "squeeze": _squeeze,
    "broadcast_to": _broadcast_to, "getitem": _getitem, "concat": _concat, "stack": _stack, "gather": _gather,
    "pad": _pad, "identity": _identity, "fused": _fused,
    "tan": _float_unary("Tan"), "asin": _float_unary("Asin"), "acos": _float_unary("Acos"), "atan": _float_unary("Atan"),
    "sinh": _float_unary("Sinh"), "cosh": _float_unary("Cosh"), "asinh": _float_unary("Asinh"),
    "acosh": _float_unary("Acosh"), "atanh": _float_unary("Atanh"),
    "cumsum": _cumulative("CumSum", 11), "cumprod": _cumulative("CumProd", 26), "argsort": _argsort,
    # placement's transfers (graphscope/ir/op_defs/transfer.py): an ONNX file has no devices; the value passes through
    "to_device": _identity, "to_host": _identity,
}

__all__ = ["DEFAULT_OPSET", "EXPORTERS", "MIN_OPSET", "OnnxExportError", "save", "to_onnx"]
