"""ONNX import: ``gs.from_onnx("resnet50.onnx")`` -> a static Graph (every shape known) ready to optimize and run.

Each ONNX node becomes one or more catalogue ops (``HANDLERS`` below: one function per ONNX op type,
each covering the opset versions of that op). Shapes are static: unknown dimensions take the values
given in ``dims``/``input_shapes`` (default 1, as ONNX's own test runner does), and ``Shape`` and
every computation over constants is folded at import, so shape-computation subgraphs vanish.
Where ONNX has semantics the catalogue lacks (Gemm's transposes, LRN, ConvTranspose, ceil-mode or
dilated pooling, integer division ...), the handler decomposes them into catalogue ops exactly.

Names: an ONNX node named ``/encoder/layer.0/attention/MatMul`` becomes a node ``MatMul`` in name
scope ``encoder/layer.0/attention``; helper nodes of a decomposition live one scope deeper
(``.../attention/Gemm/matmul``). ``node.source`` is ``<model file>:<index of the ONNX node>``.

Errors: a file that is not a readable ONNX model raises GraphFormatError naming the file; a model
using ops graphscope does not cover raises UnsupportedOnnxError listing every such op with its node
count. External data is read only from files inside the model's directory.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import GraphFormatError, GraphscopeError
from graphscope.formats.onnx_common import (
    UnsupportedOnnxError,
    numpy_dtype,
    onnx_type_name,
    require_onnx,
)
from graphscope.ir.graph import Graph, Node
from graphscope.ir.ops import IMPURE, VIEW, get_op
from graphscope.ir.spec import TensorSpec

DEFAULT_DOMAINS = ("", "ai.onnx")
META_PREFIX = "graphscope."  # node and model metadata_props written by graphscope's exporter
FOLD_LIMIT_BYTES = 1 << 20  # fold ops over constants when the result is no larger than this (or than its inputs)


class _Unsupported(Exception):
    """A supported op type used in a way graphscope does not cover (the message says how)."""

    def __init__(self, message: str, static_inputs: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.static_inputs = tuple(static_inputs)


# ---------------------------------------------------------------------------------------------
# public entry points


def from_onnx(
    model: Any,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    dims: Mapping[str, int] | None = None,
    name: str | None = None,
    check: bool = True,
    constants: Mapping[str, Any] | None = None,
) -> Graph:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) as a graphscope Graph.

    ``input_shapes`` gives whole input shapes by input name; ``dims`` gives values to symbolic
    dimensions by name (``{"batch": 8}``); any other unknown dimension is 1. ``constants`` binds
    graph inputs to fixed values (needed for inputs that decide shapes, such as a Reshape's target
    shape fed as an input: graphscope graphs have static shapes); an UnsupportedOnnxError for such
    a model lists those inputs in ``static_inputs``. ``check`` runs ``onnx.checker`` on the model
    first (structural check, no shape inference).
    """
    onnx = require_onnx("ONNX import")
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        proto = _read_model(onnx, path)
    elif isinstance(model, onnx.ModelProto):
        path, proto = None, model
    else:
        raise TypeError(f"from_onnx() takes a file path or an onnx.ModelProto, not {type(model).__name__}")
    return _Importer(onnx, proto, path, input_shapes or {}, dims or {}, name, check, constants or {}).run()


def load(path: str | os.PathLike) -> Graph:
    """The format registry's reader for ``.onnx`` files."""
    return from_onnx(path)


# ---------------------------------------------------------------------------------------------
# reading the file


def _fail(path: str | None, reason: str) -> GraphFormatError:
    return GraphFormatError(f"cannot load '{path or '<onnx model>'}': {reason}")


def _read_model(onnx: Any, path: str) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a file") from None
    except PermissionError:
        raise _fail(path, "permission denied") from None
    except OSError as exc:
        raise _fail(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not data:
        raise _fail(path, "not an ONNX model (the file is empty)")
    from google.protobuf.message import DecodeError

    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise _fail(path, f"not an ONNX model, or a truncated or corrupt one ({len(data)} bytes that do not parse "
                          f"as an ONNX ModelProto: {exc})") from None
    if not proto.HasField("graph") or proto.ir_version <= 0 or not proto.opset_import:
        missing = "graph" if not proto.HasField("graph") else "ir_version" if proto.ir_version <= 0 else "opset_import"
        raise _fail(path, f"not an ONNX model, or a truncated one ({len(data)} bytes parse, but the model has no {missing})")
    _load_external_data(onnx, proto, path)
    return proto


def _load_external_data(onnx: Any, proto: Any, path: str) -> None:
    """Fill tensors stored outside the model file, reading only files inside the model's directory."""
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in _get_all_tensors(proto):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = info.location
        if not location or os.path.isabs(location) or location.startswith(("/", "\\")):
            raise _fail(path, f"tensor '{tensor.name}' names external data file {location!r}: only paths relative to "
                              "the model's directory are read")
        full = os.path.realpath(os.path.join(base, location))
        if os.path.commonpath([base, full]) != base:
            raise _fail(path, f"tensor '{tensor.name}' names external data file {location!r}, which resolves outside "
                              f"the model's directory ({base}); refused")
        try:
            with open(full, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                offset = int(info.offset or 0)
                length = int(info.length) if info.length else size - offset
                if offset < 0 or length < 0 or offset + length > size:
                    raise _fail(path, f"tensor '{tensor.name}': external data {location!r} holds {size} bytes, but "
                                      f"the model asks for {length} bytes at offset {offset} (truncated data file?)")
                f.seek(offset)
                tensor.raw_data = f.read(length)
        except FileNotFoundError:
            raise _fail(path, f"tensor '{tensor.name}': external data file {location!r} is missing (looked in {base})") from None
        except IsADirectoryError:
            raise _fail(path, f"tensor '{tensor.name}': external data path {location!r} is a directory") from None
        except OSError as exc:
            raise _fail(path, f"tensor '{tensor.name}': cannot read external data {location!r}: {exc.strerror or exc}") from None
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]


# ---------------------------------------------------------------------------------------------
# the importer


class _Importer:
    def __init__(self, onnx: Any, proto: Any, path: str | None, input_shapes: Mapping[str, Sequence[int]],
                 dims: Mapping[str, int], name: str | None, check: bool, constants: Mapping[str, Any]) -> None:
        self.onnx = onnx
        self.proto = proto
        self.path = path
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.dims = dict(dims)
        self.check = check
        self.bound = dict(constants)
        gp = proto.graph
        own_name = next((m.value for m in proto.metadata_props if m.key == f"{META_PREFIX}graph_name"), None)
        self.graph = Graph(name or own_name or gp.name or (os.path.splitext(os.path.basename(path))[0] if path else "onnx_model"))
        self.values: dict[str, Node] = {}
        self.initializers: dict[str, Any] = {}
        self.opset = 0
        self.source_file = os.path.basename(path) if path else "<onnx>"
        self.dynamic: dict[str, int] = {}

    def fail(self, reason: str) -> GraphFormatError:
        return _fail(self.path, reason)

    # -- top level -------------------------------------------------------------------------------
    def run(self) -> Graph:
        proto, gp = self.proto, self.proto.graph
        if self.check:
            try:
                self.onnx.checker.check_model(proto)
            except Exception as exc:  # onnx.checker.ValidationError and parse failures of broken fields
                raise self.fail(f"invalid ONNX model: {str(exc).strip().splitlines()[0]}") from None
        self._check_ops(gp)
        for imp in proto.opset_import:
            if imp.domain in DEFAULT_DOMAINS:
                self.opset = int(imp.version)
        if not self.opset and len(gp.node):
            raise self.fail("the model imports no version of the default ONNX domain (opset_import)")
        for init in gp.initializer:
            self.initializers[init.name] = init
        known = {vi.name for vi in gp.input}
        unknown = sorted(set(self.bound) - known)
        if unknown:
            raise ValueError(f"constants= names {unknown}, which are not graph inputs (inputs: {sorted(known)})")
        for vi in gp.input:
            if vi.name in self.bound:
                self._bind(vi)
            elif vi.name not in self.initializers:
                self._placeholder(vi)
        users = Counter(i for n in gp.node for i in n.input if i)
        users.update(o.name for o in gp.output)
        for index, node in enumerate(self._sorted_nodes(gp)):
            self._convert(index, node, users)
        outputs = []
        for vi in gp.output:
            out = self._value(vi.name, f"graph output '{vi.name}'")
            self._check_declared(vi, out, f"graph output '{vi.name}'")
            outputs.append(out)
        self.graph.set_outputs(outputs)
        removed = self._remove_dead()
        onnx_meta = self._metadata(removed)
        self.graph.metadata["onnx"] = onnx_meta
        try:
            self.graph.lint()
        except GraphscopeError as exc:  # pragma: no cover - a handler bug, reported with the file
            raise self.fail(f"the imported graph is invalid: {exc}") from None
        return self.graph

    def _check_ops(self, gp: Any) -> None:
        """One error listing every op type (with its count) that graphscope cannot import.

        An op without a handler is still importable when ONNX defines it as a function of other ops
        (its schema has a function body, e.g. NegativeLogLikelihoodLoss): such nodes are expanded.
        Static function bodies are checked here; context-dependent ones when they are expanded.
        """
        missing: Counter[str] = Counter()
        for node in gp.node:
            for op in self._unsupported_in(node, self._opset_of(self.proto.opset_import), 0):
                missing[op] += 1
        if missing:
            listed = ", ".join(f"{op} (x{k})" for op, k in sorted(missing.items(), key=lambda kv: (-kv[1], kv[0])))
            raise UnsupportedOnnxError(
                f"cannot load '{self.path or '<onnx model>'}': {len(missing)} op type(s) are not supported by graphscope's "
                f"ONNX import: {listed}. Supported ops: {', '.join(sorted(HANDLERS))} (and ONNX function ops whose "
                "definition uses only these)", dict(missing))

    @staticmethod
    def _opset_of(opset_import: Any) -> int:
        return next((int(i.version) for i in opset_import if i.domain in DEFAULT_DOMAINS), 0)

    def _unsupported_in(self, node: Any, opset: int, depth: int) -> list[str]:
        if node.domain not in DEFAULT_DOMAINS:
            return [f"{node.domain}::{node.op_type}"]
        if node.op_type in HANDLERS:
            return []
        schema = _function_schema(self.onnx, node.op_type, opset)
        if schema is None or depth > 8:
            return [node.op_type]
        if schema.has_context_dependent_function:
            return []
        fn = _static_function(schema, opset)
        if fn is None:
            return [node.op_type]
        inner = self._opset_of(fn.opset_import) or opset
        return sorted({op for body in fn.node for op in self._unsupported_in(body, inner, depth + 1)})

    def _sorted_nodes(self, gp: Any) -> list[Any]:
        """The nodes in a topological order (ONNX requires one; a file that breaks the rule is sorted here)."""
        known = {vi.name for vi in gp.input} | {i.name for i in gp.initializer}
        order, pending = [], list(gp.node)
        while pending:
            rest = []
            for node in pending:
                if all(not i or i in known for i in node.input):
                    order.append(node)
                    known.update(node.output)
                else:
                    rest.append(node)
            if len(rest) == len(pending):
                node = rest[0]
                bad = [i for i in node.input if i and i not in known]
                raise self.fail(f"node '{node.name or node.op_type}' ({node.op_type}) reads {bad}, which no node, initializer "
                                "or graph input defines (a cycle, or a truncated file)")
            pending = rest
        return order

    # -- values ----------------------------------------------------------------------------------
    def _placeholder(self, vi: Any) -> None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise self.fail(f"graph input '{vi.name}' is not a tensor (sequences, maps and optionals are not supported)")
        dtype = numpy_dtype(tt.elem_type)
        if dtype is None:
            raise UnsupportedOnnxError(f"cannot load '{self.path or '<onnx model>'}': graph input '{vi.name}' has element "
                                       f"type {onnx_type_name(tt.elem_type)}, which graphscope does not support")
        if vi.name in self.input_shapes:
            shape = self.input_shapes[vi.name]
        else:
            if not tt.HasField("shape"):
                raise self.fail(f"graph input '{vi.name}' has no shape (not even its rank); give it with "
                                f"input_shapes={{'{vi.name}': (...)}}")
            shape = []
            for d in tt.shape.dim:
                if d.HasField("dim_value") and d.dim_value >= 0:
                    shape.append(int(d.dim_value))
                else:
                    key = d.dim_param or "?"
                    value = int(self.dims.get(key, 1))
                    self.dynamic[f"{vi.name}:{key}"] = value
                    shape.append(value)
        self.values[vi.name] = self.graph.placeholder(vi.name, TensorSpec(tuple(shape), dtype))

    def _bind(self, vi: Any) -> None:
        dtype = numpy_dtype(vi.type.tensor_type.elem_type) if vi.type.HasField("tensor_type") else None
        value = np.asarray(self.bound[vi.name])
        if dtype is not None and value.dtype != dtype:
            raise ValueError(f"constants['{vi.name}'] is {value.dtype.name}, but the input is declared {dtype.name}")
        self.values[vi.name] = _add_constant(self.graph, value, vi.name, "", None)

    def _value(self, name: str, what: str) -> Node:
        node = self.values.get(name)
        if node is not None:
            return node
        init = self.initializers.get(name)
        if init is None:
            raise self.fail(f"{what} reads '{name}', which no node, initializer or graph input defines")
        scope, _, base = name.strip("/").rpartition("/")  # "encoder/layer0/w" is "w" in scope "encoder/layer0"
        value = self._tensor(init, f"initializer '{name}'")
        node = self.values[name] = _add_constant(self.graph, value, base or name, scope, None)
        return node

    def _tensor(self, tensor: Any, what: str) -> np.ndarray:
        dtype = numpy_dtype(tensor.data_type)
        if dtype is None:
            raise _Unsupported(f"{what} has element type {onnx_type_name(tensor.data_type)}, which graphscope does not support")
        from onnx import numpy_helper

        try:
            arr = numpy_helper.to_array(tensor)
        except Exception as exc:  # malformed tensor data (wrong byte count ...)
            raise self.fail(f"{what} cannot be read: {exc}") from None
        return np.asarray(arr, dtype=dtype)

    def _check_declared(self, vi: Any, node: Node, what: str) -> None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or tt.elem_type == 0:
            return
        want = numpy_dtype(tt.elem_type)
        if want is not None and want != node.dtype:
            raise self.fail(f"{what} is declared {onnx_type_name(tt.elem_type)} but graphscope computes {node.dtype.name}")
        if tt.HasField("shape"):
            dims = list(tt.shape.dim)
            if len(dims) != node.spec.ndim or any(
                    d.HasField("dim_value") and d.dim_value != s for d, s in zip(dims, node.shape)):
                declared = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
                if not self.dynamic:  # with symbolic dims set by the caller, declared fixed dims may follow them
                    raise self.fail(f"{what} is declared with shape {declared} but graphscope computes {list(node.shape)}")

    # -- nodes -----------------------------------------------------------------------------------
    def _convert(self, index: int, proto: Any, users: Counter, opset: int | None = None, source: str | None = None) -> None:
        label = f"node #{index} '{proto.name or (proto.output[0] if proto.output else proto.op_type)}' ({proto.op_type})"
        inputs = [self._value(i, label) if i else None for i in proto.input]
        ctx = _Ctx(self, proto, index, inputs, users, opset or self.opset, source)
        first_id = self.graph._next_id
        try:
            handler = HANDLERS.get(proto.op_type)
            outs = handler(ctx) if handler is not None else self._expand_function(ctx)
        except _Unsupported as exc:
            err = UnsupportedOnnxError(f"cannot load '{self.path or '<onnx model>'}': {label}: {exc}", {proto.op_type: 1})
            err.static_inputs = exc.static_inputs
            raise err from None
        except GraphscopeError as exc:
            if isinstance(exc, UnsupportedOnnxError):
                raise
            raise self.fail(f"{label}: {exc}") from None
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise self.fail(f"{label}: {type(exc).__name__}: {exc}") from None
        for k, name in enumerate(proto.output):
            if not name:
                continue
            out = outs[k] if k < len(outs) else None
            if out is None:
                if users.get(name):
                    raise UnsupportedOnnxError(
                        f"cannot load '{self.path or '<onnx model>'}': {label}: output {k} ('{name}') is used, but "
                        f"graphscope does not compute it", {proto.op_type: 1})
                continue
            if out.id >= first_id and out.name.startswith(ctx.helper_scope + "/"):
                self._rename(out, ctx.scope, ctx.base if k == 0 else f"{ctx.base}.{k}")
            self.values[name] = out

    def _expand_function(self, c: _Ctx) -> list:
        """An op ONNX defines as a function: import its body (with this node's attributes and types)."""
        from onnx import AttributeProto, FunctionProto, NodeProto, helper

        schema = _function_schema(self.onnx, c.op_type, c.opset)
        if schema is None:
            raise _Unsupported(f"no handler for {c.op_type} and ONNX defines no function body for it")
        node = NodeProto()
        node.CopyFrom(c.proto)
        present = {a.name for a in node.attribute}
        for name, attr in schema.attributes.items():
            if name not in present and attr.default_value and attr.default_value.type:
                node.attribute.append(attr.default_value)
        fn = None
        if schema.has_context_dependent_function:
            versions = [v for v in schema.context_dependent_function_opset_versions if v <= c.opset]
            types = []
            for x in c.inputs:
                t = helper.make_tensor_type_proto(0, None) if x is None else helper.make_tensor_type_proto(
                    _onnx_elem(x.dtype), list(x.shape))
                types.append(t.SerializeToString())
            if versions:
                fn = FunctionProto()
                fn.ParseFromString(schema.get_context_dependent_function_with_opset_version(
                    max(versions), node.SerializeToString(), types))
        if fn is None:
            fn = _static_function(schema, c.opset)
        if fn is None:
            raise _Unsupported(f"ONNX defines no function body for {c.op_type} at opset {c.opset}")
        prefix = f"{c.helper_scope}/"
        io = dict(zip(fn.input, node.input))
        io.update((o, n) for o, n in zip(fn.output, node.output) if n)

        def rename(name: str) -> str:
            return io.get(name, "" if name == "" else prefix + name)

        attrs = {a.name: a for a in node.attribute}
        body = []
        for inner in fn.node:
            new = NodeProto()
            new.CopyFrom(inner)
            del new.input[:]
            del new.output[:]
            del new.attribute[:]
            new.input.extend(rename(i) for i in inner.input)
            new.output.extend(rename(o) for o in inner.output)
            for a in inner.attribute:
                if a.HasField("ref_attr_name"):
                    if a.ref_attr_name in attrs:
                        ref = AttributeProto()
                        ref.CopyFrom(attrs[a.ref_attr_name])
                        ref.name = a.name
                        new.attribute.append(ref)
                else:
                    new.attribute.append(a)
                    if a.type == AttributeProto.GRAPH:  # a branch reads the body's values: rename them too
                        _rename_graph(new.attribute[-1].g, rename)
            new.name = f"/{c.helper_scope}/{inner.op_type}"
            body.append(new)
        missing = sorted({op for b in body for op in self._unsupported_in(b, self._opset_of(fn.opset_import) or c.opset, 1)})
        if missing:
            raise _Unsupported(f"its ONNX function definition uses ops graphscope does not support: {', '.join(missing)}")
        opset = self._opset_of(fn.opset_import) or c.opset
        users = Counter(i for b in body for i in b.input if i)
        users.update(n for n in node.output if n and c.output_used(list(node.output).index(n)))
        for b in body:
            self._convert(c.index, b, users, opset, c.source)
        return [self.values.get(n) if n else None for n in node.output]

    def _convert_subgraph(self, c: _Ctx, graph: Any) -> list:
        """Import a subgraph inline (the taken branch of an If): its nodes read outer values by name."""
        for init in graph.initializer:
            self.values[init.name] = _add_constant(self.graph, self._tensor(init, f"initializer '{init.name}'"),
                                                   init.name.rpartition("/")[2] or init.name, c.helper_scope, c.source)
        users = Counter(i for n in graph.node for i in n.input if i)
        users.update(o.name for o in graph.output)
        for node in graph.node:
            inner = type(node)()
            inner.CopyFrom(node)
            inner.name = f"/{c.helper_scope}/{node.name.strip('/') or node.op_type}"
            self._convert(c.index, inner, users, c.opset, c.source)
        return [self._value(o.name, f"output '{o.name}' of {c.op_type}") for o in graph.output]

    def _rename(self, node: Node, scope: str, base: str) -> None:
        g = self.graph
        g._names.discard(node.name)
        node.scope = scope
        node.name = g._unique_name(base, scope)

    def _remove_dead(self) -> int:
        """Drop nodes nothing reads (folded-away constants, unused outputs); graph inputs stay."""
        g = self.graph
        keep = {n.id for n in g.outputs} | {n.id for n in g.inputs}
        removed = 0
        for node in reversed(g.nodes):
            if not node.users and node.id not in keep:
                g.erase_node(node)
                removed += 1
        return removed

    def _metadata(self, removed: int) -> dict[str, Any]:
        p = self.proto
        meta: dict[str, Any] = {
            "ir_version": int(p.ir_version),
            "opset": self.opset,
            "opset_import": {imp.domain or "ai.onnx": int(imp.version) for imp in p.opset_import},
            "producer": f"{p.producer_name} {p.producer_version}".strip(),
            "graph_name": p.graph.name,
            "nodes": len(p.graph.node),
            "dead_nodes_removed": removed,
        }
        if self.path:
            meta["file"] = os.path.abspath(self.path)
        if p.doc_string:
            meta["doc_string"] = p.doc_string[:2000]
        if p.model_version:
            meta["model_version"] = int(p.model_version)
        props = {m.key: m.value for m in p.metadata_props}
        own = props.pop(f"{META_PREFIX}metadata", None)
        props.pop(f"{META_PREFIX}graph_name", None)
        if props:
            meta["metadata_props"] = props
        if own:  # the graphscope metadata of an exported graph (pass log ...) comes back as it was
            try:
                restored = json.loads(own)
            except ValueError:
                restored = None
            if isinstance(restored, dict):
                for key, value in restored.items():
                    self.graph.metadata.setdefault(key, value)
        if self.dynamic:
            meta["dynamic_dims"] = dict(self.dynamic)
        return meta


# ---------------------------------------------------------------------------------------------
# the per-node context handlers work with


class _Ctx:
    def __init__(self, imp: _Importer, proto: Any, index: int, inputs: list[Node | None], users: Counter, opset: int,
                 source: str | None = None) -> None:
        self.imp = imp
        self.proto = proto
        self.index = index
        self.op_type = proto.op_type
        self.opset = opset
        self.inputs = inputs
        self.n_outputs = len(proto.output)
        self._users = users
        meta = {p.key[len(META_PREFIX):]: p.value for p in proto.metadata_props if p.key.startswith(META_PREFIX)}
        if "name" in meta:  # written by graphscope's exporter: the node's own scope, name and source line
            scope = meta.get("scope", "")
            base = meta["name"][len(scope) + 1:] if scope and meta["name"].startswith(scope + "/") else meta["name"]
        else:
            full = (proto.name or (proto.output[0] if proto.output else proto.op_type)).strip("/")
            scope, _, base = full.rpartition("/")
        self.scope, self.base = scope, base or proto.op_type
        self.helper_scope = f"{scope}/{self.base}" if scope else self.base
        self.source = source or meta.get("source") or f"{imp.source_file}:{index}"
        self.attrs = {a.name: a for a in proto.attribute}

    # -- attributes and inputs -----------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        a = self.attrs.get(name)
        if a is None:
            return default
        from onnx import helper

        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if hasattr(value, "data_type"):  # a TensorProto
            return self.imp._tensor(value, f"attribute '{name}'")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8") for v in value]
        return value

    def ints(self, name: str, default: Sequence[int] | None = None) -> list[int] | None:
        v = self.attr(name)
        return list(default) if v is None and default is not None else (None if v is None else [int(x) for x in v])

    def x(self, i: int) -> Node | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def has(self, i: int) -> bool:
        return self.x(i) is not None

    def static(self, i: int, what: str | None = None) -> np.ndarray:
        node = self.x(i)
        if node is None:
            raise _Unsupported(f"input {i} ({what or 'a static input'}) is missing")
        if node.op != "constant":
            sources = _placeholders_under(node)
            raise _Unsupported(f"input {i} ({what or 'a static input'}) must be computable at import time (from "
                               f"constants and shapes), but it depends on graph input(s) {sorted(sources)}; bind them "
                               f"with from_onnx(..., constants={{name: value}})", sources)
        return np.asarray(node.value)

    def static_ints(self, i: int, what: str) -> list[int]:
        return [int(v) for v in self.static(i, what).reshape(-1)]

    def output_used(self, k: int) -> bool:
        return k < self.n_outputs and bool(self.proto.output[k]) and bool(self._users.get(self.proto.output[k]))

    # -- building --------------------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[Node], **attrs: Any) -> Node:
        """Add a catalogue op (folded into a constant when every input is one and the result is small)."""
        g = self.imp.graph
        opdef = get_op(op)
        # Views of large constants (a Gemm's transposed weight) stay views: folding would copy them.
        large_view = opdef.has(VIEW) and sum(i.spec.nbytes for i in inputs) > FOLD_LIMIT_BYTES
        if inputs and all(i.op == "constant" for i in inputs) and not opdef.has(IMPURE) and not large_view:
            norm = opdef.normalize_attrs(attrs)
            spec = opdef.infer([i.spec for i in inputs], norm)
            if spec.nbytes <= max(FOLD_LIMIT_BYTES, sum(i.spec.nbytes for i in inputs)):
                with np.errstate(all="ignore"):
                    value = np.asarray(opdef.impl(np, *[i.value for i in inputs], **norm))
                return self.const(value.astype(spec.dtype, copy=False).reshape(spec.shape), name=op)
        return g.add_node(op, inputs, attrs, name=op, scope=self.helper_scope, source=self.source)

    def const(self, value: Any, dtype: Any = None, name: str = "const") -> Node:
        return _add_constant(self.imp.graph, np.asarray(value, dtype=dtype), name, self.helper_scope, self.source)

    def scalar(self, value: Any, like: Node | np.dtype | str) -> Node:
        dt = like.dtype if isinstance(like, Node) else np.dtype(like)
        return self.const(np.array(value, dtype=dt))

    def cast(self, x: Node, dtype: Any) -> Node:
        dt = np.dtype(dtype)
        return x if x.dtype == dt else self.emit("cast", [x], dtype=dt.name)

    def reshape(self, x: Node, shape: Sequence[int]) -> Node:
        shape = tuple(int(d) for d in shape)
        return x if x.shape == shape else self.emit("reshape", [x], shape=shape)

    def getitem(self, x: Node, index: tuple) -> Node:
        from graphscope.ops import canonical_index

        idx = canonical_index(x.shape, index)
        return x if idx == () else self.emit("getitem", [x], index=idx)


# ---------------------------------------------------------------------------------------------
# helpers shared by handlers


def _add_constant(graph: Graph, value: np.ndarray, name: str, scope: str, source: str | None) -> Node:
    """A constant node holding ``value`` itself when the importer made it (no copy of large weights)."""
    arr = np.asarray(value)
    if arr.base is not None or not arr.flags.c_contiguous or arr.flags.writeable is False:
        arr = np.array(arr, order="C")  # a view (of a proto buffer, of another constant): own a compact copy
    arr.setflags(write=False)
    return graph.add_node("constant", (), {"shape": arr.shape, "dtype": arr.dtype.name}, name=name, scope=scope,
                          source=source, value=arr)


def _rename_graph(graph: Any, rename: Callable[[str], str]) -> None:
    for init in graph.initializer:
        init.name = rename(init.name)
    for vi in graph.output:
        vi.name = rename(vi.name)
    for node in graph.node:
        node.input[:] = [rename(i) for i in node.input]
        node.output[:] = [rename(o) for o in node.output]
        for a in node.attribute:
            if a.HasField("g"):
                _rename_graph(a.g, rename)


def _function_schema(onnx: Any, op_type: str, opset: int) -> Any:
    """The op's schema at ``opset`` when ONNX defines the op as a function of other ops, else None."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except Exception:  # onnx.defs.SchemaError: no such op (at this opset)
        return None
    return schema if (schema.has_function or schema.has_context_dependent_function) else None


def _static_function(schema: Any, opset: int) -> Any:
    from onnx import FunctionProto

    versions = [v for v in getattr(schema, "function_opset_versions", []) if v <= opset]
    if versions:
        fn = FunctionProto()
        fn.ParseFromString(schema.get_function_with_opset_version(max(versions)))
        return fn
    return schema.function_body if schema.has_function else None


def _onnx_elem(dtype: np.dtype) -> int:
    from graphscope.formats.onnx_common import onnx_type

    return onnx_type(dtype)


def _placeholders_under(node: Node) -> list[str]:
    seen, stack, found = set(), [node], []
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        if n.op == "placeholder":
            found.append(n.name)
        stack.extend(n.inputs)
    return found


def _axis(axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise _Unsupported(f"{what} {axis} is out of range for rank {ndim}")
    return axis % ndim if ndim else 0


def _float_kind(x: Node, what: str) -> None:
    if x.dtype.kind != "f":
        raise _Unsupported(f"{what} takes floating-point inputs, got {x.dtype.name}")


def _fold_binary(c: _Ctx, op: str, xs: Sequence[Node]) -> Node:
    out = xs[0]
    for x in xs[1:]:
        out = c.emit(op, [out, x])
    return out


def _trunc_div(c: _Ctx, a: Node, b: Node) -> Node:
    """Integer division rounding toward zero (C, ONNX), from NumPy's floor division exactly."""
    q = c.emit("floordiv", [a, b])
    r = c.emit("mod", [a, b])
    zero = c.scalar(0, a)
    signs_differ = c.emit("not_equal", [c.emit("less", [a, zero]), c.emit("less", [b, zero])])
    fix = c.emit("logical_and", [c.emit("not_equal", [r, zero]), signs_differ])
    return c.emit("add", [q, c.cast(fix, q.dtype)])


def _reduce_axes(c: _Ctx, x: Node, axes_input: int | None) -> tuple[int, ...] | None:
    """The reduced axes (None = all; () = none) from the attribute or, in newer opsets, input 1."""
    if axes_input is not None:
        axes = c.static_ints(axes_input, "axes") if c.has(axes_input) else []
    else:
        axes = c.ints("axes", [])
    if not axes:
        return () if c.attr("noop_with_empty_axes", 0) else None
    return tuple(sorted({_axis(a, x.spec.ndim, "axes") for a in axes}))


def _emit_reduce(c: _Ctx, op: str, x: Node, axes: tuple[int, ...] | None, keepdims: bool, dtype: Any = None) -> Node:
    """A catalogue reduction over ``axes`` (None = all), in the input dtype as ONNX has it."""
    dtype = np.dtype(dtype or x.dtype)
    all_axes = tuple(range(x.spec.ndim)) if axes is None else axes
    if any(x.shape[a] == 0 for a in all_axes):  # a reduction over an empty set: ONNX's identity value
        fill = {"sum": 0, "prod": 1, "max": -np.inf, "min": np.inf, "mean": np.nan}[op]
        if dtype.kind in "iub" and not np.isfinite(fill):
            info = np.iinfo(dtype) if dtype.kind in "iu" else None
            fill = (info.min if fill < 0 else info.max) if info else (fill > 0)
        shape = tuple(1 if i in all_axes else d for i, d in enumerate(x.shape)) if keepdims else tuple(
            d for i, d in enumerate(x.shape) if i not in all_axes)
        return c.const(np.full(shape, fill, dtype=dtype))
    out = c.emit(op, [x], axis=all_axes, keepdims=bool(keepdims))
    return c.cast(out, dtype)


def _bcast_to(c: _Ctx, x: Node, shape: tuple[int, ...]) -> Node:
    return x if x.shape == shape else c.emit("broadcast_to", [x], shape=shape)


# ---------------------------------------------------------------------------------------------
# elementwise


def _unary(op: str, floats_only: bool = False) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        if floats_only:
            _float_kind(x, c.op_type)
        return [c.emit(op, [x])]

    return handler


def _binary(op: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        a, b = c.x(0), c.x(1)
        if a.dtype != b.dtype:
            raise _Unsupported(f"inputs of different types ({a.dtype.name}, {b.dtype.name})")
        return [c.emit(op, [a, b])]

    return handler


def _div(c: _Ctx) -> list:
    a, b = c.x(0), c.x(1)
    if a.dtype.kind in "iu":
        return [_trunc_div(c, a, b)]
    return [c.emit("div", [a, b])]


def _pow(c: _Ctx) -> list:
    a, b = c.x(0), c.x(1)
    if a.dtype == b.dtype:
        return [c.emit("pow", [a, b])]
    dt = np.result_type(a.dtype, b.dtype)
    return [c.cast(c.emit("pow", [c.cast(a, dt), c.cast(b, dt)]), a.dtype)]


def _mod(c: _Ctx) -> list:
    a, b = c.x(0), c.x(1)
    if c.attr("fmod", 0):
        # C fmod: the sign of the dividend; |a| mod |b| is exact for non-negative operands.
        r = c.emit("mod", [c.emit("abs", [a]), c.emit("abs", [b])])
        neg = c.emit("less", [a, c.scalar(0, a)])
        return [c.emit("where", [neg, c.emit("neg", [r]), r])]
    return [c.emit("mod", [a, b])]


def _variadic(op: str, mean: bool = False) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        xs = [x for x in c.inputs if x is not None]
        out = _fold_binary(c, op, xs)
        if len(xs) == 1:
            out = c.emit("identity", [out]) if out.op != "constant" else out
        if mean:
            out = c.emit("div", [out, c.scalar(len(xs), out)])
        return [out]

    return handler


def _logical(op: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        return [c.emit(op, [c.x(0), c.x(1)])]

    return handler


def _clip(c: _Ctx) -> list:
    x = c.x(0)
    if c.opset < 11:
        lo, hi = c.attr("min"), c.attr("max")
        return [c.emit("clip", [x], min=lo, max=hi)]
    out = x
    bounds = []
    for i in (1, 2):
        b = c.x(i)
        if b is None:
            bounds.append(None)
        elif b.op == "constant" and b.spec.size == 1:
            bounds.append(np.asarray(b.value, dtype=x.dtype).reshape(-1)[0].item())
        else:
            bounds.append(b)
    if all(b is None or not isinstance(b, Node) for b in bounds):
        return [c.emit("clip", [x], min=bounds[0], max=bounds[1])]
    for b, op in zip(bounds, ("maximum", "minimum")):
        if b is not None:
            out = c.emit(op, [out, b if isinstance(b, Node) else c.scalar(b, x)])
    return [out]


def _cast(c: _Ctx) -> list:
    to = c.attr("to")
    dt = numpy_dtype(to)
    if dt is None:
        raise _Unsupported(f"Cast to {onnx_type_name(to)}: graphscope does not support that element type")
    x = c.x(0)
    out = c.cast(x, dt)
    return [out if out is not x else c.emit("identity", [x]) if x.op != "constant" else x]


def _cast_like(c: _Ctx) -> list:
    x, like = c.x(0), c.x(1)
    out = c.cast(x, like.dtype)
    return [out if out is not x else c.emit("identity", [x]) if x.op != "constant" else x]


def _identity(c: _Ctx) -> list:
    x = c.x(0)
    return [x if x.op == "constant" else c.emit("identity", [x])]


def _where(c: _Ctx) -> list:
    return [c.emit("where", [c.x(0), c.x(1), c.x(2)])]


def _gelu(c: _Ctx) -> list:
    x = c.x(0)
    _float_kind(x, "Gelu")
    return [c.emit("gelu", [x], approximate=c.attr("approximate", "none"))]


def _round(c: _Ctx) -> list:
    """Round half to even, exactly: floor, then up when the fraction is above 1/2 or 1/2 with an odd floor."""
    x = c.x(0)
    _float_kind(x, "Round")
    r = c.emit("floor", [x])
    frac = c.emit("sub", [x, r])
    half = c.scalar(0.5, x)
    odd = c.emit("equal", [c.emit("mod", [r, c.scalar(2, x)]), c.scalar(1, x)])
    up = c.emit("logical_or", [c.emit("greater", [frac, half]),
                               c.emit("logical_and", [c.emit("equal", [frac, half]), odd])])
    return [c.emit("add", [r, c.cast(up, x.dtype)])]


def _isnan(c: _Ctx) -> list:
    x = c.x(0)
    return [c.emit("not_equal", [x, x])]


def _isinf(c: _Ctx) -> list:
    x = c.x(0)
    pos, neg = c.attr("detect_positive", 1), c.attr("detect_negative", 1)
    terms = []
    if pos:
        terms.append(c.emit("equal", [x, c.scalar(np.inf, x)]))
    if neg:
        terms.append(c.emit("equal", [x, c.scalar(-np.inf, x)]))
    if not terms:
        return [c.const(np.zeros(x.shape, dtype=bool))]
    return [_fold_binary(c, "logical_or", terms)]


# -- activations (exact decompositions) ---------------------------------------------------------


def _leaky_relu(c: _Ctx) -> list:
    x = c.x(0)
    alpha = c.scalar(c.attr("alpha", 0.01), x)
    return [c.emit("where", [c.emit("less", [x, c.scalar(0, x)]), c.emit("mul", [x, alpha]), x])]


def _prelu(c: _Ctx) -> list:
    x, slope = c.x(0), c.x(1)
    return [c.emit("where", [c.emit("less", [x, c.scalar(0, x)]), c.emit("mul", [x, slope]), x])]


def _elu(c: _Ctx) -> list:
    x = c.x(0)
    neg = c.emit("mul", [c.emit("sub", [c.emit("exp", [x]), c.scalar(1, x)]), c.scalar(c.attr("alpha", 1.0), x)])
    return [c.emit("where", [c.emit("less", [x, c.scalar(0, x)]), neg, x])]


def _selu(c: _Ctx) -> list:
    x = c.x(0)
    alpha = c.scalar(c.attr("alpha", 1.67326319217681884765625), x)
    gamma = c.scalar(c.attr("gamma", 1.05070102214813232421875), x)
    neg = c.emit("sub", [c.emit("mul", [c.emit("exp", [x]), alpha]), alpha])
    return [c.emit("mul", [c.emit("where", [c.emit("less_equal", [x, c.scalar(0, x)]), neg, x]), gamma])]


def _celu(c: _Ctx) -> list:
    x = c.x(0)
    alpha = c.scalar(c.attr("alpha", 1.0), x)
    zero = c.scalar(0, x)
    e = c.emit("mul", [c.emit("sub", [c.emit("exp", [c.emit("div", [x, alpha])]), c.scalar(1, x)]), alpha])
    return [c.emit("add", [c.emit("maximum", [x, zero]), c.emit("minimum", [zero, e])])]


def _hard_sigmoid(c: _Ctx) -> list:
    x = c.x(0)
    t = c.emit("add", [c.emit("mul", [x, c.scalar(c.attr("alpha", 0.2), x)]), c.scalar(c.attr("beta", 0.5), x)])
    return [c.emit("clip", [t], min=0.0, max=1.0)]


def _hard_swish(c: _Ctx) -> list:
    x = c.x(0)
    t = c.emit("add", [c.emit("mul", [x, c.scalar(1 / 6, x)]), c.scalar(0.5, x)])
    return [c.emit("mul", [x, c.emit("clip", [t], min=0.0, max=1.0)])]


def _softplus(c: _Ctx) -> list:
    x = c.x(0)
    return [c.emit("log", [c.emit("add", [c.emit("exp", [x]), c.scalar(1, x)])])]


def _softsign(c: _Ctx) -> list:
    x = c.x(0)
    return [c.emit("div", [x, c.emit("add", [c.emit("abs", [x]), c.scalar(1, x)])])]


def _thresholded_relu(c: _Ctx) -> list:
    x = c.x(0)
    gt = c.emit("greater", [x, c.scalar(c.attr("alpha", 1.0), x)])
    return [c.emit("where", [gt, x, c.scalar(0, x)])]


def _mish(c: _Ctx) -> list:
    x = c.x(0)
    sp = _softplus(c)[0]
    return [c.emit("mul", [x, c.emit("tanh", [sp])])]


def _shrink(c: _Ctx) -> list:
    x = c.x(0)
    lambd, bias = c.attr("lambd", 0.5), c.attr("bias", 0.0)
    low = c.emit("less", [x, c.scalar(-lambd, x)])
    high = c.emit("greater", [x, c.scalar(lambd, x)])
    inner = c.emit("where", [high, c.emit("sub", [x, c.scalar(bias, x)]), c.scalar(0, x)])
    return [c.emit("where", [low, c.emit("add", [x, c.scalar(bias, x)]), inner])]


def _swish(c: _Ctx) -> list:
    x = c.x(0)
    alpha = c.attr("alpha", 1.0)
    t = x if alpha == 1.0 else c.emit("mul", [x, c.scalar(alpha, x)])
    return [c.emit("mul", [x, c.emit("sigmoid", [t])])]


# ---------------------------------------------------------------------------------------------
# constants and shapes


def _constant(c: _Ctx) -> list:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in c.attrs:
            v = c.attr(key)
            if key == "value":
                return [c.const(v)]
            dtype = np.float32 if "float" in key else np.int64
            return [c.const(np.array(v, dtype=dtype))]
    raise _Unsupported(f"Constant with {sorted(c.attrs)}: only numeric tensors are supported (no strings, no sparse tensors)")


def _constant_of_shape(c: _Ctx) -> list:
    shape = c.static_ints(0, "shape")
    value = c.attr("value")
    if value is None:
        value = np.zeros(1, dtype=np.float32)
    value = np.asarray(value)
    return [c.const(np.full(shape, value.reshape(-1)[0], dtype=value.dtype))]


def _shape(c: _Ctx) -> list:
    shape = list(c.x(0).shape)
    start, end = c.attr("start", 0), c.attr("end", None)
    return [c.const(np.array(shape[slice(start, end)], dtype=np.int64))]


def _size(c: _Ctx) -> list:
    return [c.const(np.array(c.x(0).spec.size, dtype=np.int64))]


def _range(c: _Ctx) -> list:
    start, limit, delta = (c.static(i, n) for i, n in ((0, "start"), (1, "limit"), (2, "delta")))
    dt = start.dtype
    n = max(int(math.ceil((limit.item() - start.item()) / delta.item())), 0)
    return [c.const((start + np.arange(n, dtype=dt) * delta).astype(dt))]


def _eye_like(c: _Ctx) -> list:
    x = c.x(0)
    dt = numpy_dtype(c.attr("dtype")) if c.attr("dtype") is not None else x.dtype
    if dt is None:
        raise _Unsupported("EyeLike to an element type graphscope does not support")
    return [c.const(np.eye(x.shape[0], x.shape[1], k=c.attr("k", 0), dtype=dt))]


def _reshape(c: _Ctx) -> list:
    x = c.x(0)
    if c.opset < 5:
        target = c.ints("shape")
    else:
        target = c.static_ints(1, "shape")
    allowzero = c.attr("allowzero", 0)
    shape = [x.shape[i] if v == 0 and not allowzero else v for i, v in enumerate(target)]
    if shape.count(-1) == 1:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = x.spec.size // known if known else 0
    if int(np.prod(shape)) != x.spec.size or any(d < 0 for d in shape):
        raise ValueError(f"cannot reshape {x.shape} into {target}")
    return [c.reshape(x, shape) if x.op != "placeholder" or tuple(shape) != x.shape else c.emit("identity", [x])]


def _flatten(c: _Ctx) -> list:
    x = c.x(0)
    axis = c.attr("axis", 1)
    axis = axis + x.spec.ndim if axis < 0 else axis
    outer = int(np.prod(x.shape[:axis])) if axis else 1
    return [c.reshape(x, (outer, int(np.prod(x.shape[axis:]))))]


def _squeeze(c: _Ctx) -> list:
    x = c.x(0)
    axes = c.static_ints(1, "axes") if c.opset >= 13 and c.has(1) else c.ints("axes")
    if axes is None or not axes:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    axes = tuple(sorted({_axis(a, x.spec.ndim) for a in axes}))
    if not axes:
        return [_identity(c)[0]]
    return [c.emit("squeeze", [x], axis=axes)]


def _unsqueeze(c: _Ctx) -> list:
    x = c.x(0)
    axes = c.static_ints(1, "axes") if c.opset >= 13 else c.ints("axes")
    out_ndim = x.spec.ndim + len(axes)
    axes = tuple(sorted(_axis(a, out_ndim) for a in axes))
    return [c.emit("expand_dims", [x], axis=axes)]


def _transpose(c: _Ctx) -> list:
    x = c.x(0)
    perm = c.ints("perm")
    perm = tuple(reversed(range(x.spec.ndim))) if perm is None else tuple(perm)
    if perm == tuple(range(x.spec.ndim)):
        return [_identity(c)[0]]
    return [c.emit("transpose", [x], perm=perm)]


def _concat(c: _Ctx) -> list:
    xs = [x for x in c.inputs if x is not None]
    axis = _axis(c.attr("axis", 0), xs[0].spec.ndim)
    return [c.emit("concat", xs, axis=axis)]


def _split(c: _Ctx) -> list:
    x = c.x(0)
    axis = _axis(c.attr("axis", 0), x.spec.ndim)
    dim, n = x.shape[axis], c.n_outputs
    if c.opset >= 13 and c.has(1):
        sizes = c.static_ints(1, "split")
    elif c.opset < 13 and c.attr("split") is not None:
        sizes = c.ints("split")
    else:
        n = c.attr("num_outputs", n)
        chunk = -(-dim // n)
        if c.opset < 18 and dim % n:
            raise ValueError(f"axis {axis} of length {dim} does not split into {n} equal parts")
        sizes = [min(chunk, max(dim - k * chunk, 0)) for k in range(n)]
    if sum(sizes) != dim:
        raise ValueError(f"split sizes {sizes} do not add up to the length {dim} of axis {axis}")
    outs, start = [], 0
    for s in sizes:
        outs.append(c.getitem(x, (slice(None),) * axis + (slice(start, start + s),)))
        start += s
    return [o if o is not x else c.emit("identity", [x]) for o in outs]


def _slice(c: _Ctx) -> list:
    x = c.x(0)
    nd = x.spec.ndim
    if c.opset < 10:
        starts, ends = c.ints("starts"), c.ints("ends")
        axes = c.ints("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = c.static_ints(1, "starts"), c.static_ints(2, "ends")
        axes = c.static_ints(3, "axes") if c.has(3) else list(range(len(starts)))
        steps = c.static_ints(4, "steps") if c.has(4) else [1] * len(starts)
    index: list[Any] = [slice(None)] * nd
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(a, nd)
        d = x.shape[a]
        if st == 0:
            raise ValueError("slice step cannot be 0")
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
        index[a] = slice(s, None if e < 0 else e, st)
    out = c.getitem(x, tuple(index))
    return [out if out is not x else _identity(c)[0]]


def _gather(c: _Ctx) -> list:
    x, idx = c.x(0), c.x(1)
    axis = _axis(c.attr("axis", 0), x.spec.ndim)
    return [c.emit("gather", [x, idx], axis=axis)]


def _flat_index(c: _Ctx, shape: tuple[int, ...], coords: list[Node]) -> Node:
    """sum(coord_k * stride_k) for a C-contiguous array of ``shape`` (coords broadcast against each other)."""
    strides = [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
    terms = [co if st == 1 else c.emit("mul", [co, c.scalar(st, co)]) for co, st in zip(coords, strides)]
    return _fold_binary(c, "add", terms)


def _wrap_negative(c: _Ctx, idx: Node, dim: int) -> Node:
    idx = c.cast(idx, np.int64)
    neg = c.emit("less", [idx, c.scalar(0, idx)])
    return c.emit("where", [neg, c.emit("add", [idx, c.scalar(dim, idx)]), idx])


def _gather_elements(c: _Ctx) -> list:
    x, idx = c.x(0), c.x(1)
    return [_take_along_axis(c, x, idx, _axis(c.attr("axis", 0), x.spec.ndim))]


def _take_along_axis(c: _Ctx, x: Node, idx: Node, axis: int) -> Node:
    """numpy.take_along_axis (ONNX GatherElements) as one gather from the flattened input."""
    nd = x.spec.ndim
    coords = []
    for k in range(nd):
        if k == axis:
            coords.append(_wrap_negative(c, idx, x.shape[axis]))
        else:
            shape = [1] * nd
            shape[k] = idx.shape[k]
            coords.append(c.const(np.arange(idx.shape[k], dtype=np.int64).reshape(shape)))
    flat = _flat_index(c, x.shape, coords)
    return c.emit("gather", [c.reshape(x, (x.spec.size,)), _bcast_to(c, flat, idx.shape)], axis=0)


def _gather_nd(c: _Ctx) -> list:
    x, idx = c.x(0), c.x(1)
    b = c.attr("batch_dims", 0)
    k = idx.shape[-1]
    batch = x.shape[:b]
    rest = x.shape[b + k:]
    coords = []
    for j in range(b):
        shape = [1] * (idx.spec.ndim - 1)
        shape[j] = batch[j]
        coords.append(c.const(np.arange(batch[j], dtype=np.int64).reshape(shape)))
    for j in range(k):
        comp = c.getitem(idx, (Ellipsis, j))
        coords.append(_wrap_negative(c, comp, x.shape[b + j]))
    flat = _flat_index(c, x.shape[:b + k], coords)
    flat = _bcast_to(c, flat, idx.shape[:-1])
    table = c.reshape(x, (int(np.prod(x.shape[:b + k])),) + rest)
    return [c.emit("gather", [table, flat], axis=0)]


def _expand(c: _Ctx) -> list:
    x = c.x(0)
    shape = tuple(np.broadcast_shapes(x.shape, tuple(c.static_ints(1, "shape"))))
    out = _bcast_to(c, x, shape)
    return [out if out is not x else _identity(c)[0]]


def _tile(c: _Ctx) -> list:
    x = c.x(0)
    reps = c.static_ints(1, "repeats")
    inter = tuple(v for d in x.shape for v in (1, d))
    target = tuple(v for r, d in zip(reps, x.shape) for v in (r, d))
    t = _bcast_to(c, c.reshape(x, inter), target)
    return [c.reshape(t, tuple(r * d for r, d in zip(reps, x.shape)))]


def _pad(c: _Ctx) -> list:
    x = c.x(0)
    nd = x.spec.ndim
    if c.opset < 11:
        pads, value, mode = c.ints("pads" if c.opset >= 2 else "paddings"), c.attr("value", 0.0), c.attr("mode", "constant")
        axes = list(range(nd))
    else:
        mode = c.attr("mode", "constant")
        pads = c.static_ints(1, "pads")
        value = c.static(2, "constant_value").reshape(-1)[0].item() if c.has(2) else 0
        axes = [_axis(a, nd) for a in c.static_ints(3, "axes")] if c.has(3) else list(range(nd))
    n = len(axes)
    width = [[0, 0] for _ in range(nd)]
    for k, a in enumerate(axes):
        width[a] = [pads[k], pads[k + n]]
    # Negative pads crop first.
    crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for (b, e), d in zip(width, x.shape))
    x = c.getitem(x, crop)
    width = [(max(b, 0), max(e, 0)) for b, e in width]
    if not any(b or e for b, e in width):
        return [x if x is not c.x(0) else _identity(c)[0]]
    if mode == "wrap":
        for a, (b, e) in enumerate(width):
            if b or e:
                d = x.shape[a]
                if b > d or e > d:
                    raise _Unsupported("Pad mode 'wrap' wider than the axis")
                parts = []
                if b:
                    parts.append(c.getitem(x, (slice(None),) * a + (slice(d - b, d),)))
                parts.append(x)
                if e:
                    parts.append(c.getitem(x, (slice(None),) * a + (slice(0, e),)))
                x = c.emit("concat", parts, axis=a)
        return [x]
    if mode not in ("constant", "edge", "reflect"):
        raise _Unsupported(f"Pad mode '{mode}'")
    if mode == "constant":
        return [c.emit("pad", [x], pad_width=tuple(width), mode="constant", constant_value=float(value))]
    return [c.emit("pad", [x], pad_width=tuple(width), mode=mode)]


def _one_hot(c: _Ctx) -> list:
    idx = c.x(0)
    depth = int(c.static(1, "depth").reshape(-1)[0])
    values = c.static(2, "values").reshape(-1)
    axis = _axis(c.attr("axis", -1), idx.spec.ndim + 1)
    if idx.dtype.kind == "f":
        idx = c.cast(idx, np.int64)
    idx = _wrap_negative(c, idx, depth)
    shape = [1] * (idx.spec.ndim + 1)
    shape[axis] = depth
    hot = c.emit("equal", [c.emit("expand_dims", [idx], axis=axis), c.const(np.arange(depth, dtype=np.int64).reshape(shape))])
    return [c.emit("where", [hot, c.const(values[1]), c.const(values[0])])]


def _trilu(c: _Ctx) -> list:
    x = c.x(0)
    k = int(c.static(1, "k").reshape(-1)[0]) if c.has(1) else 0
    rows, cols = x.shape[-2:]
    ones = np.ones((rows, cols), dtype=bool)
    mask = np.triu(ones, k) if c.attr("upper", 1) else np.tril(ones, k)
    return [c.emit("where", [c.const(mask), x, c.scalar(0, x)])]


def _depth_to_space(c: _Ctx) -> list:
    x = c.x(0)
    bs = c.attr("blocksize")
    n, ch, h, w = x.shape
    if c.attr("mode", "DCR") == "DCR":
        t = c.reshape(x, (n, bs, bs, ch // (bs * bs), h, w))
        t = c.emit("transpose", [t], perm=(0, 3, 4, 1, 5, 2))
    else:
        t = c.reshape(x, (n, ch // (bs * bs), bs, bs, h, w))
        t = c.emit("transpose", [t], perm=(0, 1, 4, 2, 5, 3))
    return [c.reshape(t, (n, ch // (bs * bs), h * bs, w * bs))]


def _space_to_depth(c: _Ctx) -> list:
    x = c.x(0)
    bs = c.attr("blocksize")
    n, ch, h, w = x.shape
    t = c.reshape(x, (n, ch, h // bs, bs, w // bs, bs))
    perm = (0, 3, 5, 1, 2, 4) if c.attr("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
    t = c.emit("transpose", [t], perm=perm)
    return [c.reshape(t, (n, ch * bs * bs, h // bs, w // bs))]


def _top_k(c: _Ctx) -> list:
    x = c.x(0)
    axis = _axis(c.attr("axis", -1), x.spec.ndim)
    k = int(c.static(1, "K").reshape(-1)[0]) if c.opset >= 10 else int(c.attr("k"))
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"k={k} is out of range for axis {axis} of {x.shape}")
    order = c.emit("argsort", [x], axis=axis, descending=bool(c.attr("largest", 1)))
    idx = c.getitem(order, (slice(None),) * axis + (slice(0, k),))
    return [_take_along_axis(c, x, idx, axis), idx]


def _cumulative(op: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        axis = _axis(int(c.static(1, "axis").reshape(-1)[0]), x.spec.ndim)
        return [c.emit(op, [x], axis=axis, exclusive=bool(c.attr("exclusive", 0)), reverse=bool(c.attr("reverse", 0)))]

    return handler


# ---------------------------------------------------------------------------------------------
# reductions


def _reduce(op: str, axes_input_since: int = 18) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        axes = _reduce_axes(c, x, 1 if c.opset >= axes_input_since else None)
        keep = bool(c.attr("keepdims", 1))
        if axes == ():
            return [_identity(c)[0]]
        return [_emit_reduce(c, op, x, axes, keep)]

    return handler


def _reduce_composite(kind: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        axes = _reduce_axes(c, x, 1 if c.opset >= 18 else None)
        keep = bool(c.attr("keepdims", 1))
        if axes == ():
            t = {"l1": lambda: c.emit("abs", [x]), "l2": lambda: c.emit("abs", [x]), "sumsq": lambda: c.emit("mul", [x, x]),
                 "logsum": lambda: c.emit("log", [x]), "logsumexp": lambda: x}[kind]()
            return [t if t is not x else _identity(c)[0]]
        if kind == "l1":
            return [_emit_reduce(c, "sum", c.emit("abs", [x]), axes, keep)]
        if kind == "sumsq":
            return [_emit_reduce(c, "sum", c.emit("mul", [x, x]), axes, keep)]
        if kind == "l2":
            s = _emit_reduce(c, "sum", c.emit("mul", [x, x]), axes, keep, dtype=np.float64 if x.dtype.kind != "f" else x.dtype)
            return [c.cast(c.emit("sqrt", [s]), x.dtype)]
        if kind == "logsum":
            return [c.emit("log", [_emit_reduce(c, "sum", x, axes, keep)])]
        # log-sum-exp, shifted by the maximum for stability (a reduction over nothing is -inf)
        all_axes = tuple(range(x.spec.ndim)) if axes is None else axes
        if any(x.shape[a] == 0 for a in all_axes):
            return [c.emit("log", [_emit_reduce(c, "sum", x, axes, keep)])]
        m = _emit_reduce(c, "max", x, axes, True)
        m = c.emit("where", [c.emit("equal", [c.emit("abs", [m]), c.scalar(np.inf, m)]), c.scalar(0, m), m])
        s = _emit_reduce(c, "sum", c.emit("exp", [c.emit("sub", [x, m])]), axes, keep)
        mk = m if keep else c.reshape(m, s.shape)
        return [c.emit("add", [c.emit("log", [s]), mk])]

    return handler


def _arg(op: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        axis = _axis(c.attr("axis", 0), x.spec.ndim)
        keep = bool(c.attr("keepdims", 1))
        if c.attr("select_last_index", 0):
            rev = c.getitem(x, (slice(None),) * axis + (slice(None, None, -1),))
            i = c.emit(op, [rev], axis=axis, keepdims=keep)
            return [c.emit("sub", [c.scalar(x.shape[axis] - 1, i), i])]
        return [c.emit(op, [x], axis=axis, keepdims=keep)]

    return handler


# ---------------------------------------------------------------------------------------------
# linear algebra and normalization


def _matmul(c: _Ctx) -> list:
    return [c.emit("matmul", [c.x(0), c.x(1)])]


def _gemm(c: _Ctx) -> list:
    a, b, bias = c.x(0), c.x(1), c.x(2)
    if c.attr("transA", 0):
        a = c.emit("transpose", [a], perm=(1, 0))
    if c.attr("transB", 0):
        b = c.emit("transpose", [b], perm=(1, 0))
    alpha, beta = c.attr("alpha", 1.0), c.attr("beta", 1.0)
    y = c.emit("matmul", [a, b])
    if alpha != 1.0:
        y = c.emit("mul", [y, c.scalar(alpha, y)])
    if bias is not None and beta != 0.0:
        if beta != 1.0:
            bias = c.emit("mul", [bias, c.scalar(beta, bias)])
        y = c.emit("add", [y, bias])
    return [y]


def _einsum(c: _Ctx) -> list:
    eq = c.attr("equation").replace(" ", "")
    return [c.emit("einsum", [x for x in c.inputs if x is not None], equation=eq)]


def _softmax_like(op: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        nd = x.spec.ndim
        if c.opset >= 13:
            axis = _axis(c.attr("axis", -1), nd)
            if op == "hardmax":
                return [_hardmax(c, x, axis)]
            return [c.emit(op, [x], axis=axis)]
        # Before opset 13: the input is coerced to 2-d at ``axis`` and normalized over the second dim.
        axis = _axis(c.attr("axis", 1), nd)
        flat = c.reshape(x, (int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))))
        y = _hardmax(c, flat, 1) if op == "hardmax" else c.emit(op, [flat], axis=1)
        return [c.reshape(y, x.shape)]

    return handler


def _hardmax(c: _Ctx, x: Node, axis: int) -> Node:
    i = c.emit("argmax", [x], axis=axis, keepdims=True)
    shape = [1] * x.spec.ndim
    shape[axis] = x.shape[axis]
    hot = c.emit("equal", [i, c.const(np.arange(x.shape[axis], dtype=np.int64).reshape(shape))])
    return c.cast(hot, x.dtype)


def _layer_norm(c: _Ctx) -> list:
    x, scale, bias = c.x(0), c.x(1), c.x(2)
    _float_kind(x, "LayerNormalization")
    axis = _axis(c.attr("axis", -1), x.spec.ndim)
    eps = float(c.attr("epsilon", 1e-5))
    params = [p for p in (scale, bias) if p is not None]
    y = c.emit("layer_norm", [x, *params], axis=axis, epsilon=eps)
    outs: list[Node | None] = [c.cast(y, x.dtype)]
    if c.output_used(1) or c.output_used(2):
        axes = tuple(range(axis, x.spec.ndim))
        xf = c.cast(x, np.float32) if x.dtype == np.float16 else x
        mean = c.emit("mean", [xf], axis=axes, keepdims=True)
        d = c.emit("sub", [xf, mean])
        var = c.emit("mean", [c.emit("mul", [d, d])], axis=axes, keepdims=True)
        inv = c.emit("reciprocal", [c.emit("sqrt", [c.emit("add", [var, c.scalar(eps, var)])])])
        outs += [c.cast(mean, x.dtype), c.cast(inv, x.dtype)]
    return outs


def _rms_norm(c: _Ctx) -> list:
    x, scale = c.x(0), c.x(1)
    _float_kind(x, "RMSNormalization")
    axis = _axis(c.attr("axis", -1), x.spec.ndim)
    eps = float(c.attr("epsilon", 1e-5))
    xf = c.cast(x, np.float32) if x.dtype == np.float16 else x
    axes = tuple(range(axis, x.spec.ndim))
    ms = c.emit("mean", [c.emit("mul", [xf, xf])], axis=axes, keepdims=True)
    y = c.emit("div", [xf, c.emit("sqrt", [c.emit("add", [ms, c.scalar(eps, ms)])])])
    return [c.emit("mul", [c.cast(y, x.dtype), scale])]


def _channel_shape(x: Node) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.spec.ndim - 2)


def _batch_norm(c: _Ctx) -> list:
    x, scale, bias, mean, var = (c.x(i) for i in range(5))
    _float_kind(x, "BatchNormalization")
    eps = float(c.attr("epsilon", 1e-5))
    training = c.attr("training_mode", 0) if c.opset >= 14 else (c.n_outputs > 1 and not c.attr("is_test", 0))
    if x.spec.ndim < 2:
        raise ValueError(f"BatchNormalization input must be at least 2-d, got {x.shape}")
    if not training:
        y = c.emit("batch_norm", [x, scale, bias, mean, var], epsilon=eps)
        return [c.cast(y, x.dtype)]
    axes = (0,) + tuple(range(2, x.spec.ndim))
    m = c.emit("mean", [x], axis=axes)
    v = c.emit("var", [x], axis=axes)
    y = c.cast(c.emit("batch_norm", [x, scale, bias, m, v], epsilon=eps), x.dtype)
    mom = c.attr("momentum", 0.9)
    run_mean = c.emit("add", [c.emit("mul", [mean, c.scalar(mom, mean)]), c.emit("mul", [m, c.scalar(1 - mom, m)])])
    run_var = c.emit("add", [c.emit("mul", [var, c.scalar(mom, var)]), c.emit("mul", [v, c.scalar(1 - mom, v)])])
    if c.opset >= 14:
        return [y, run_mean, run_var]
    return [y, run_mean, run_var, m, v]


def _instance_norm(c: _Ctx) -> list:
    x, scale, bias = c.x(0), c.x(1), c.x(2)
    _float_kind(x, "InstanceNormalization")
    axes = tuple(range(2, x.spec.ndim))
    eps = float(c.attr("epsilon", 1e-5))
    m = c.emit("mean", [x], axis=axes, keepdims=True)
    v = c.emit("var", [x], axis=axes, keepdims=True)
    y = c.emit("div", [c.emit("sub", [x, m]), c.emit("sqrt", [c.emit("add", [v, c.scalar(eps, v)])])])
    y = c.emit("add", [c.emit("mul", [y, c.reshape(scale, _channel_shape(x))]), c.reshape(bias, _channel_shape(x))])
    return [c.cast(y, x.dtype)]


def _group_norm(c: _Ctx) -> list:
    x, scale, bias = c.x(0), c.x(1), c.x(2)
    _float_kind(x, "GroupNormalization")
    g = c.attr("num_groups")
    eps = float(c.attr("epsilon", 1e-5))
    n, ch = x.shape[:2]
    xf = c.cast(x, np.float32) if x.dtype == np.float16 else x
    t = c.reshape(xf, (n, g, -1) if False else (n, g, x.spec.size // (n * g)))
    m = c.emit("mean", [t], axis=(2,), keepdims=True)
    v = c.emit("var", [t], axis=(2,), keepdims=True)
    t = c.emit("div", [c.emit("sub", [t, m]), c.emit("sqrt", [c.emit("add", [v, c.scalar(eps, v)])])])
    y = c.cast(c.reshape(t, x.shape), x.dtype)
    if scale.shape[0] == ch:
        s, b = c.reshape(scale, _channel_shape(x)), c.reshape(bias, _channel_shape(x))
    else:  # opset 18: one scale and bias per group
        per = ch // g
        s = c.reshape(c.emit("broadcast_to", [c.reshape(scale, (g, 1))], shape=(g, per)), _channel_shape(x))
        b = c.reshape(c.emit("broadcast_to", [c.reshape(bias, (g, 1))], shape=(g, per)), _channel_shape(x))
    return [c.emit("add", [c.emit("mul", [y, s]), b])]


def _mvn(c: _Ctx) -> list:
    x = c.x(0)
    axes = tuple(_axis(a, x.spec.ndim) for a in c.ints("axes", [0, 2, 3]))
    m = c.emit("mean", [x], axis=axes, keepdims=True)
    sq = c.emit("mean", [c.emit("mul", [x, x])], axis=axes, keepdims=True)
    var = c.emit("sub", [sq, c.emit("mul", [m, m])])
    std = c.emit("sqrt", [var])
    return [c.emit("div", [c.emit("sub", [x, m]), c.emit("add", [std, c.scalar(1e-9, std)])])]


def _lp_norm(c: _Ctx) -> list:
    x = c.x(0)
    axis = _axis(c.attr("axis", -1), x.spec.ndim)
    p = c.attr("p", 2)
    if p == 1:
        norm = c.emit("sum", [c.emit("abs", [x])], axis=axis, keepdims=True)
    elif p == 2:
        norm = c.emit("sqrt", [c.emit("sum", [c.emit("mul", [x, x])], axis=axis, keepdims=True)])
    else:
        raise _Unsupported(f"LpNormalization with p={p} (ONNX defines p=1 and p=2)")
    zero = c.emit("equal", [norm, c.scalar(0, norm)])  # an all-zero slice stays zero (no 0/0)
    norm = c.emit("where", [zero, c.scalar(1, norm), norm])
    return [c.cast(c.emit("div", [x, norm]), x.dtype)]


def _lrn(c: _Ctx) -> list:
    """x / (bias + alpha/size * sum of x^2 over a window of channels)^beta, from slices of a channel-padded x^2."""
    x = c.x(0)
    size = int(c.attr("size"))
    alpha, beta, bias = c.attr("alpha", 1e-4), c.attr("beta", 0.75), c.attr("bias", 1.0)
    ch = x.shape[1]
    before, after = (size - 1) // 2, (size - 1) - (size - 1) // 2
    sq = c.emit("mul", [x, x])
    width = ((0, 0), (before, after)) + ((0, 0),) * (x.spec.ndim - 2)
    padded = c.emit("pad", [sq], pad_width=width)
    terms = [c.getitem(padded, (slice(None), slice(k, k + ch))) for k in range(size)]
    total = _fold_binary(c, "add", terms)
    base = c.emit("add", [c.emit("mul", [total, c.scalar(alpha / size, x)]), c.scalar(bias, x)])
    return [c.emit("div", [x, c.emit("pow", [base, c.scalar(beta, x)])])]


# ---------------------------------------------------------------------------------------------
# convolution and pooling


def _spatial_attrs(c: _Ctx, x: Node, kernel: Sequence[int], *, transpose: bool = False) -> tuple:
    """(strides, dilations, pads as begin+end lists) with auto_pad resolved (not for ConvTranspose)."""
    n = len(kernel)
    strides = c.ints("strides", [1] * n)
    dilations = c.ints("dilations", [1] * n)
    pads = c.ints("pads", [0] * (2 * n))
    auto = c.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and not transpose:
        pads = [0] * (2 * n)
        for i in range(n):
            size = x.shape[2 + i]
            out = -(-size // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size, 0)
            small = total // 2
            pads[i], pads[i + n] = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    elif auto == "VALID":
        pads = [0] * (2 * n)
    return strides, dilations, pads


def _conv(c: _Ctx) -> list:
    x, w, b = c.x(0), c.x(1), c.x(2)
    _float_kind(x, "Conv")
    nsp = x.spec.ndim - 2
    kernel = c.ints("kernel_shape", list(w.shape[2:]))
    strides, dilations, pads = _spatial_attrs(c, x, kernel)
    group = c.attr("group", 1)
    if nsp == 1:  # as a 2-d convolution over a height-1 image
        x2 = c.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
        w2 = c.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))
        y = c.emit("conv2d", [x2, w2] + ([b] if b is not None else []), stride=(1, strides[0]),
                   padding=(0, pads[0], 0, pads[1]), dilation=(1, dilations[0]), groups=group)
        return [c.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))]
    if nsp != 2:
        raise _Unsupported(f"Conv with {nsp} spatial dimensions (graphscope convolves 1-d and 2-d inputs)")
    y = c.emit("conv2d", [x, w] + ([b] if b is not None else []), stride=tuple(strides),
               padding=(pads[0], pads[1], pads[2], pads[3]), dilation=tuple(dilations), groups=group)
    return [y]


def _conv_transpose(c: _Ctx) -> list:
    """ConvTranspose as a stride-1 convolution of the zero-upsampled input with the flipped, transposed kernel."""
    x, w, b = c.x(0), c.x(1), c.x(2)
    _float_kind(x, "ConvTranspose")
    nsp = x.spec.ndim - 2
    if nsp not in (1, 2):
        raise _Unsupported(f"ConvTranspose with {nsp} spatial dimensions (graphscope handles 1-d and 2-d)")
    if nsp == 1:
        x = c.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
        w = c.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))

    def attr2(name: str, default: int) -> list[int]:
        v = c.ints(name, [default] * nsp)
        return [default] + v if nsp == 1 else v

    kernel = list(w.shape[2:])
    strides, dilations = attr2("strides", 1), attr2("dilations", 1)
    out_pad = attr2("output_padding", 0)
    group = c.attr("group", 1)
    auto = c.attr("auto_pad", "NOTSET")
    in_size = list(x.shape[2:])
    full = [strides[i] * (in_size[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(2)]
    out_shape = c.ints("output_shape")
    pads_attr = c.ints("pads")
    if out_shape is not None or (pads_attr is None and auto in ("SAME_UPPER", "SAME_LOWER")):
        if out_shape is None:
            out_shape = [in_size[i] * strides[i] for i in range(2)]
        elif nsp == 1:
            out_shape = [1] + list(out_shape)
        out_shape = list(out_shape)[-2:]
        total = [full[i] - out_shape[i] for i in range(2)]
        if auto == "SAME_UPPER":
            begin = [t // 2 for t in total]
        else:
            begin = [t - t // 2 for t in total]
        end = [t - bg for t, bg in zip(total, begin)]
    else:
        pads = pads_attr or [0] * (2 * nsp)
        begin, end = (pads[:nsp], pads[nsp:])
        if nsp == 1:
            begin, end = [0] + begin, [0] + end
    n, cin = x.shape[:2]
    cout_g = w.shape[1]
    cin_g = cin // group
    # Upsample: insert stride-1 zeros between input pixels along each spatial axis.
    t = x
    for ax, s in ((2, strides[0]), (3, strides[1])):
        if s > 1:
            d = t.shape[ax]
            t = c.emit("expand_dims", [t], axis=ax + 1)
            width = [(0, 0)] * t.spec.ndim
            width[ax + 1] = (0, s - 1)
            t = c.emit("pad", [t], pad_width=tuple(width))
            shape = list(t.shape)
            shape[ax:ax + 2] = [d * s]
            t = c.reshape(t, shape)
            t = c.getitem(t, (slice(None),) * ax + (slice(0, (d - 1) * s + 1),))
    # Pad by the kernel extent minus the ONNX pads (cropping where that is negative).
    lo = [(kernel[i] - 1) * dilations[i] - begin[i] for i in range(2)]
    hi = [(kernel[i] - 1) * dilations[i] - end[i] + out_pad[i] for i in range(2)]
    crop = (slice(None), slice(None)) + tuple(slice(max(-lo[i], 0), t.shape[2 + i] - max(-hi[i], 0)) for i in range(2))
    t = c.getitem(t, crop)
    pad = (max(lo[0], 0), max(lo[1], 0), max(hi[0], 0), max(hi[1], 0))
    # Kernel: (C, O/g, kh, kw) -> (O, C/g, kh, kw) per group, flipped spatially.
    wt = c.reshape(w, (group, cin_g, cout_g) + tuple(kernel))
    wt = c.emit("transpose", [wt], perm=(0, 2, 1, 3, 4))
    wt = c.reshape(wt, (group * cout_g, cin_g) + tuple(kernel))
    wt = c.getitem(wt, (slice(None), slice(None), slice(None, None, -1), slice(None, None, -1)))
    y = c.emit("conv2d", [t, wt] + ([b] if b is not None else []), stride=(1, 1), padding=pad,
               dilation=tuple(dilations), groups=group)
    if nsp == 1:
        y = c.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
    return [y]


def _pool_geometry(c: _Ctx, x: Node, kernel: list[int]) -> tuple:
    """(strides, dilations, explicit pads, extra end pads for ceil_mode, output size) as ONNX defines them."""
    n = len(kernel)
    strides = c.ints("strides", [1] * n)
    dilations = c.ints("dilations", [1] * n)
    auto = c.attr("auto_pad", "NOTSET")
    ceil = bool(c.attr("ceil_mode", 0))
    sizes = list(x.shape[2:])
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n)
        for i in range(n):
            out = (sizes[i] - 1) // strides[i] + 1
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - sizes[i], 0)
            small = total // 2
            pads[i], pads[i + n] = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    elif auto == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = c.ints("pads", [0] * (2 * n))
    out, extra = [], []
    for i in range(n):
        span = (kernel[i] - 1) * dilations[i] + 1
        num = sizes[i] + pads[i] + pads[i + n] - span
        o = (-(-num // strides[i]) if ceil else num // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= sizes[i] + pads[i]:
            o -= 1
        if o < 1:
            raise ValueError(f"pooling window {kernel} does not fit the input {x.shape} with pads {pads}")
        out.append(o)
        extra.append(max((o - 1) * strides[i] + span - (sizes[i] + pads[i] + pads[i + n]), 0))
    return strides, dilations, pads, extra, out


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _pool(kind: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        if c.output_used(1):
            raise _Unsupported("MaxPool's Indices output")
        nsp = x.spec.ndim - 2
        kernel = c.ints("kernel_shape")
        strides, dilations, pads, extra, out = _pool_geometry(c, x, kernel)
        include_pad = bool(c.attr("count_include_pad", 0))
        if kind == "avg" and x.dtype.kind != "f":
            raise _Unsupported(f"AveragePool of {x.dtype.name}")
        if kind == "lp":
            p = c.attr("p", 2)
            return [_generic_pool(c, x, "lp", kernel, strides, dilations, pads, extra, out, True, p)]
        if nsp == 1:  # as 2-d pooling over a height-1 image
            x2 = c.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))
            y = _pool2d(c, kind, x2, [1] + kernel, [1] + strides, [1] + dilations, [0, pads[0], 0, pads[1]],
                        [0] + extra, [1] + out, include_pad)
            return [c.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))]
        if nsp == 2:
            return [_pool2d(c, kind, x, kernel, strides, dilations, pads, extra, out, include_pad)]
        return [_generic_pool(c, x, kind, kernel, strides, dilations, pads, extra, out, include_pad)]

    return handler


def _pool2d(c: _Ctx, kind: str, x: Node, kernel: list[int], strides: list[int], dilations: list[int], pads: list[int],
            extra: list[int], out: list[int], include_pad: bool) -> Node:
    """The catalogue's max_pool2d/avg_pool2d where they fit (no dilation, padding below the kernel), else slices."""
    src = x
    pad_t, pad_l, pad_b, pad_r = pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]
    if kind == "avg" and include_pad and any(pads):
        # Explicit zero pads count in the divisor; the ceil-mode extras do not (graphscope leaves them out).
        src = c.emit("pad", [x], pad_width=((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
        pad_t = pad_l = 0
        pad_b, pad_r = extra
    padding = (pad_t, pad_l, pad_b, pad_r)
    if dilations == [1, 1] and all(p < kernel[k % 2] for k, p in enumerate(padding)):
        op = "max_pool2d" if kind == "max" else "avg_pool2d"
        y = c.emit(op, [src], kernel_size=tuple(kernel), stride=tuple(strides), padding=padding)
        return c.cast(y, x.dtype)
    return _generic_pool(c, x, kind, kernel, strides, dilations, pads, extra, out, include_pad)


def _generic_pool(c: _Ctx, x: Node, kind: str, kernel: list[int], strides: list[int], dilations: list[int],
                  pads: list[int], extra: list[int], out: list[int], include_pad: bool, p: int = 1) -> Node:
    """Pooling of any rank, dilation and padding as a max/sum over strided slices of the padded input."""
    n = len(kernel)
    lead = ((0, 0), (0, 0))
    width = lead + tuple((pads[i], pads[i + n] + extra[i]) for i in range(n))
    if kind == "max":
        src = c.emit("pad", [x], pad_width=width, constant_value=float(_lowest(x.dtype)))
    else:
        src = x if kind == "avg" else c.emit("pow", [c.emit("abs", [x]), c.scalar(p, x)])
        src = c.emit("pad", [src], pad_width=width)
    acc = None
    for offs in np.ndindex(*kernel):
        index = (slice(None), slice(None)) + tuple(
            slice(offs[i] * dilations[i], offs[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i]) for i in range(n))
        win = c.getitem(src, index)
        acc = win if acc is None else c.emit("maximum" if kind == "max" else "add", [acc, win])
    if kind == "max":
        return acc
    if kind == "lp":
        return c.emit("pow", [acc, c.scalar(1.0 / p, x)])
    # Divisor: the real cells (and explicit pads when counted) under each window.
    mask = np.zeros([s + pads[i] + pads[i + n] + extra[i] for i, s in enumerate(x.shape[2:])])
    real = tuple(slice(pads[i], pads[i] + x.shape[2 + i]) for i in range(n))
    counted = tuple(slice(0, pads[i] + x.shape[2 + i] + pads[i + n]) for i in range(n)) if include_pad else real
    mask[counted] = 1
    count = np.zeros(out)
    for offs in np.ndindex(*kernel):
        count += mask[tuple(slice(offs[i] * dilations[i], offs[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                            for i in range(n))]
    return c.emit("div", [acc, c.const(count.astype(x.dtype))])


def _global_pool(kind: str) -> Callable[[_Ctx], list]:
    def handler(c: _Ctx) -> list:
        x = c.x(0)
        if kind == "avg":
            _float_kind(x, "GlobalAveragePool")
            return [c.emit("global_avg_pool", [x])]
        return [c.emit("max", [x], axis=tuple(range(2, x.spec.ndim)), keepdims=True)]

    return handler


def _if(c: _Ctx) -> list:
    """If with a condition known at import time: the taken branch, inlined."""
    cond = bool(c.static(0, "cond").reshape(-1)[0])
    branch = c.attrs["then_branch" if cond else "else_branch"].g
    outs = c.imp._convert_subgraph(c, branch)
    return [o if o.op == "constant" or o.scope.startswith(c.helper_scope) else c.emit("identity", [o]) for o in outs]


def _dropout(c: _Ctx) -> list:
    x = c.x(0)
    training = False
    if c.opset >= 12 and c.has(2):
        training = bool(c.static(2, "training_mode").reshape(-1)[0])
    elif c.opset < 7:
        training = not c.attr("is_test", 0)
    ratio = float(c.static(1, "ratio").reshape(-1)[0]) if c.opset >= 12 and c.has(1) else c.attr("ratio", 0.5)
    if training and ratio != 0.0:
        raise _Unsupported("Dropout in training mode (random masks are not supported; inference is the identity)")
    outs: list[Node | None] = [_identity(c)[0]]
    if c.n_outputs > 1:
        outs.append(c.const(np.ones(x.shape, dtype=bool)))
    return outs


# ---------------------------------------------------------------------------------------------
# the table

HANDLERS: dict[str, Callable[[_Ctx], list]] = {
    # elementwise
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"), "Div": _div, "Pow": _pow, "Mod": _mod,
    "Max": _variadic("maximum"), "Min": _variadic("minimum"), "Sum": _variadic("add"), "Mean": _variadic("add", mean=True),
    "Equal": _logical("equal"), "Less": _logical("less"), "LessOrEqual": _logical("less_equal"),
    "Greater": _logical("greater"), "GreaterOrEqual": _logical("greater_equal"),
    "And": _logical("logical_and"), "Or": _logical("logical_or"), "Xor": _logical("not_equal"), "Not": _unary("logical_not"),
    "Neg": _unary("neg"), "Abs": _unary("abs"), "Sign": _unary("sign"), "Exp": _unary("exp", True),
    "Log": _unary("log", True), "Sqrt": _unary("sqrt", True), "Reciprocal": _unary("reciprocal", True),
    "Tanh": _unary("tanh", True), "Sin": _unary("sin", True), "Cos": _unary("cos", True),
    "Floor": _unary("floor", True), "Ceil": _unary("ceil", True), "Sigmoid": _unary("sigmoid", True),
    "Relu": _unary("relu"), "Erf": _unary("erf", True), "Gelu": _gelu, "Round": _round,
    "IsNaN": _isnan, "IsInf": _isinf, "Where": _where, "Clip": _clip, "Cast": _cast, "CastLike": _cast_like,
    "Identity": _identity, "Dropout": _dropout, "If": _if,
    "LeakyRelu": _leaky_relu, "PRelu": _prelu, "Elu": _elu, "Selu": _selu, "Celu": _celu, "HardSigmoid": _hard_sigmoid,
    "HardSwish": _hard_swish, "Softplus": _softplus, "Softsign": _softsign, "ThresholdedRelu": _thresholded_relu,
    "Mish": _mish, "Shrink": _shrink, "Swish": _swish,
    "Tan": _unary("tan", True), "Asin": _unary("asin", True), "Acos": _unary("acos", True), "Atan": _unary("atan", True),
    "Sinh": _unary("sinh", True), "Cosh": _unary("cosh", True), "Asinh": _unary("asinh", True),
    "Acosh": _unary("acosh", True), "Atanh": _unary("atanh", True),
    # constants and shapes
    "Constant": _constant, "ConstantOfShape": _constant_of_shape, "Shape": _shape, "Size": _size, "Range": _range,
    "EyeLike": _eye_like, "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Concat": _concat, "Split": _split, "Slice": _slice, "Gather": _gather,
    "GatherElements": _gather_elements, "GatherND": _gather_nd, "Expand": _expand, "Tile": _tile, "Pad": _pad,
    "OneHot": _one_hot, "Trilu": _trilu, "DepthToSpace": _depth_to_space, "SpaceToDepth": _space_to_depth,
    "TopK": _top_k, "CumSum": _cumulative("cumsum"), "CumProd": _cumulative("cumprod"),
    # reductions
    "ReduceSum": _reduce("sum", 13), "ReduceMean": _reduce("mean"), "ReduceMax": _reduce("max"), "ReduceMin": _reduce("min"),
    "ReduceProd": _reduce("prod"), "ReduceL1": _reduce_composite("l1"), "ReduceL2": _reduce_composite("l2"),
    "ReduceSumSquare": _reduce_composite("sumsq"), "ReduceLogSum": _reduce_composite("logsum"),
    "ReduceLogSumExp": _reduce_composite("logsumexp"), "ArgMax": _arg("argmax"), "ArgMin": _arg("argmin"),
    # linear algebra and normalization
    "MatMul": _matmul, "Gemm": _gemm, "Einsum": _einsum,
    "Softmax": _softmax_like("softmax"), "LogSoftmax": _softmax_like("log_softmax"), "Hardmax": _softmax_like("hardmax"),
    "LayerNormalization": _layer_norm, "RMSNormalization": _rms_norm, "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm, "GroupNormalization": _group_norm, "MeanVarianceNormalization": _mvn,
    "LpNormalization": _lp_norm, "LRN": _lrn,
    # convolution and pooling
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "LpPool": _pool("lp"), "GlobalAveragePool": _global_pool("avg"), "GlobalMaxPool": _global_pool("max"),
}

# Ops without a handler that import through their ONNX function definition (expanded into the ops
# above) and pass every one of their ONNX node tests (benchmarks/ONNX-CONFORMANCE.md). Other function
# ops may import as well; these are the ones graphscope claims.
FUNCTION_OPS: frozenset[str] = frozenset({
    "AffineGrid", "Attention", "BlackmanWindow", "CausalConvWithState", "CenterCropPad", "HammingWindow", "HannWindow",
    "NegativeLogLikelihoodLoss", "RotaryEmbedding", "SoftmaxCrossEntropyLoss", "SwiGLU",
})

SUPPORTED_OPS: frozenset[str] = frozenset(HANDLERS) | FUNCTION_OPS

__all__ = ["FUNCTION_OPS", "HANDLERS", "SUPPORTED_OPS", "UnsupportedOnnxError", "from_onnx", "load"]
