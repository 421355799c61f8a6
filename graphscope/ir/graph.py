"""Node and Graph: a small explicit IR with use-def links kept in sync.

Every node has exactly one output (multi-output NumPy functions such as ``np.split`` trace into
several single-output nodes), so a node *is* its value: memory plans, events and provenance all
key on the node id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from graphscope.errors import GraphError, ShapeError
from graphscope.ir.ops import SOURCE, get_op
from graphscope.ir.spec import TensorSpec


class Node:
    """One op application. ``users`` lists the nodes that read this node, once per use."""

    __slots__ = ("id", "op", "inputs", "attrs", "spec", "name", "scope", "source", "provenance", "users", "value")

    def __init__(
        self,
        id: int,  # noqa: A002
        op: str,
        inputs: list[Node],
        attrs: dict[str, Any],
        spec: TensorSpec,
        name: str,
        scope: str = "",
        source: str | None = None,
        provenance: tuple[int, ...] = (),
        value: np.ndarray | None = None,
    ) -> None:
        self.id = id
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.spec = spec
        self.name = name
        self.scope = scope
        self.source = source
        self.provenance = provenance or (id,)
        self.users: list[Node] = []
        self.value = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self.spec.dtype

    def describe(self) -> str:
        """One phrase naming the node for error messages: id, name, op, source line."""
        where = f", {self.source}" if self.source else ""
        return f"node %{self.id} '{self.name}' ({self.op}{where})"

    def __repr__(self) -> str:
        return f"<Node %{self.id} {self.op} {self.spec.short()} '{self.name}'>"


class Graph:
    """A DAG of nodes. ``nodes`` is always a topological order; ``inputs`` are placeholders."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._nodes: dict[int, Node] = {}
        self.inputs: list[Node] = []
        self.outputs: list[Node] = []
        self.metadata: dict[str, Any] = {}
        self._next_id = 0
        self._names: set[str] = set()
        self._name_counts: dict[str, int] = {}
        self._order: list[Node] | None = []
        self.version = 0  # bumped on every mutation; compiled plans check it

    # -- building ---------------------------------------------------------------------------
    def add_node(
        self,
        op: str,
        inputs: Sequence[Node] = (),
        attrs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        scope: str = "",
        source: str | None = None,
        provenance: Iterable[int] = (),
        value: np.ndarray | None = None,
        spec: TensorSpec | None = None,
        node_id: int | None = None,
        exact_name: bool = False,
    ) -> Node:
        """Append a node; its spec is inferred by the op's rule (ShapeError names the source line).

        ``spec`` (when given) must equal the inferred one. ``node_id`` and ``exact_name`` restore a
        node exactly as it was saved (the loader's use): the id must be unused, and the name is taken
        as the full name (scope included) and must be unique.
        """
        opdef = get_op(op)
        for inp in inputs:
            if self._nodes.get(inp.id) is not inp:
                raise GraphError(f"input {inp!r} of new '{op}' node does not belong to graph '{self.name}'")
        try:
            opdef.check_arity(len(inputs))
            attrs = opdef.normalize_attrs(attrs or {})
            inferred = opdef.infer([i.spec for i in inputs], attrs)
        except ShapeError as exc:
            where = f" at {source}" if source else ""
            label = f" ('{name}')" if name else ""
            raise ShapeError(f"{exc}{label}{where}") from None
        if spec is not None and spec != inferred:
            raise ShapeError(f"op '{op}' ('{name}'): declared {spec.short()} but the rule gives {inferred.short()}")
        if node_id is not None and node_id in self._nodes:
            raise GraphError(f"node id %{node_id} is already used in graph '{self.name}'")
        if exact_name:
            if not name or name in self._names:
                raise GraphError(f"node name {name!r} is empty or already used in graph '{self.name}'")
            self._names.add(name)
            full_name = name
        else:
            full_name = self._unique_name(name or op, scope)
        nid = self._next_id if node_id is None else node_id
        node = Node(nid, op, list(inputs), attrs, inferred, full_name, scope, source, tuple(provenance), value)
        self._next_id = max(self._next_id, nid + 1)
        self._nodes[node.id] = node
        for inp in inputs:
            inp.users.append(node)
        if self._order is not None:
            self._order.append(node)
        self.version += 1
        return node

    def placeholder(self, name: str, spec: TensorSpec, *, source: str | None = None) -> Node:
        node = self.add_node(
            "placeholder", (), {"shape": spec.shape, "dtype": spec.dtype.name}, name=name, source=source
        )
        self.inputs.append(node)
        return node

    def constant(self, value: Any, *, name: str | None = None, scope: str = "", source: str | None = None) -> Node:
        arr = np.array(value, copy=True)  # later edits of the caller's array must not change the graph
        arr.setflags(write=False)
        return self.add_node(
            "constant", (), {"shape": arr.shape, "dtype": arr.dtype.name}, name=name or "const", scope=scope,
            source=source, value=arr,
        )

    def input_values(self, inputs: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
        """Values for the inputs in placeholder order, from a list in that order or a dict by input name
        (ShapeError naming the missing or unknown inputs). Shapes and dtypes are the caller's to check."""
        names = [n.name for n in self.inputs]
        if isinstance(inputs, Mapping):
            unknown = set(inputs) - set(names)
            if unknown:
                raise ShapeError(f"graph '{self.name}' has no input(s) {sorted(unknown)}; its inputs: {names}")
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ShapeError(f"graph '{self.name}': missing input(s) {missing}")
            return [inputs[n] for n in names]
        values = list(inputs)
        if len(values) != len(names):
            raise ShapeError(f"graph '{self.name}' takes {len(names)} inputs ({names}), got {len(values)}")
        return values

    def set_outputs(self, outputs: Sequence[Node]) -> None:
        for out in outputs:
            if self._nodes.get(out.id) is not out:
                raise GraphError(f"output {out!r} does not belong to graph '{self.name}'")
        self.outputs = list(outputs)
        self.version += 1

    def _unique_name(self, base: str, scope: str) -> str:
        full = f"{scope}/{base}" if scope else base
        name = full
        k = self._name_counts.get(full, 0)  # next suffix to try: keeps naming O(1) per node
        while name in self._names:
            k += 1
            name = f"{full}_{k}"
        self._name_counts[full] = k
        self._names.add(name)
        return name

    # -- editing (used by passes) -------------------------------------------------------------
    def replace_all_uses(self, old: Node, new: Node) -> int:
        """Point every use of ``old`` (including graph outputs) at ``new``; returns the count."""
        if old is new:
            return 0
        if old.spec != new.spec:
            raise GraphError(f"cannot replace {old!r} with {new!r}: specs differ")
        count = 0
        for user in old.users:
            user.inputs = [new if i is old else i for i in user.inputs]
            new.users.append(user)
            count += 1
        old.users = []
        if any(o is old for o in self.outputs):
            self.outputs = [new if o is old else o for o in self.outputs]
            count += 1
        self._order = None  # new may come after old's users in insertion order
        self.version += 1
        return count

    def erase_node(self, node: Node) -> None:
        if node.users:
            raise GraphError(f"cannot erase {node.describe()}: still used by {[u.name for u in node.users]}")
        if any(o is node for o in self.outputs):
            raise GraphError(f"cannot erase {node.describe()}: it is a graph output")
        for inp in node.inputs:
            inp.users.remove(node)
        del self._nodes[node.id]
        self._names.discard(node.name)
        if node in self.inputs:
            self.inputs.remove(node)
        self._order = None
        self.version += 1

    # -- queries ------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        """Nodes in a topological order (insertion order when no edit reordered them)."""
        if self._order is None:
            self._order = self._toposort()
        return self._order

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, Node) and self._nodes.get(node.id) is node

    def node(self, key: int | str) -> Node:
        """A node by id or by name."""
        if isinstance(key, int):
            try:
                return self._nodes[key]
            except KeyError:
                raise KeyError(f"graph '{self.name}' has no node %{key}") from None
        for n in self._nodes.values():
            if n.name == key:
                return n
        raise KeyError(f"graph '{self.name}' has no node named '{key}'")

    def _toposort(self) -> list[Node]:
        indeg = {nid: len(n.inputs) for nid, n in self._nodes.items()}
        ready = [n for n in self._nodes.values() if indeg[n.id] == 0]
        order: list[Node] = []
        # Stable: prefer insertion (id) order among ready nodes.
        import heapq

        heap = [(n.id, n) for n in ready]
        heapq.heapify(heap)
        while heap:
            _, n = heapq.heappop(heap)
            order.append(n)
            for u in n.users:
                indeg[u.id] -= 1
                if indeg[u.id] == 0:
                    heapq.heappush(heap, (u.id, u))
        if len(order) != len(self._nodes):
            stuck = sorted(set(self._nodes) - {n.id for n in order})[:5]
            raise GraphError(f"graph '{self.name}' has a cycle through nodes {['%' + str(i) for i in stuck]}")
        return order

    def lint(self) -> None:
        """Check the invariants every pass must keep; raise GraphError naming the first broken one."""
        for n in self._nodes.values():
            opdef = get_op(n.op)
            for i in n.inputs:
                if self._nodes.get(i.id) is not i:
                    raise GraphError(f"{n.describe()} uses %{i.id} which is not in the graph (dangling use)")
                if sum(u is n for u in i.users) != sum(j is i for j in n.inputs):
                    raise GraphError(f"use lists out of sync between %{i.id} and {n.describe()}")
            for u in n.users:
                if self._nodes.get(u.id) is not u or n not in u.inputs:
                    raise GraphError(f"{n.describe()} lists user %{u.id} that does not read it")
            try:
                opdef.check_arity(len(n.inputs))
                spec = opdef.infer([i.spec for i in n.inputs], n.attrs)
            except ShapeError as exc:
                raise GraphError(f"{n.describe()}: {exc}") from None
            if spec != n.spec:
                raise GraphError(f"{n.describe()}: recorded spec {n.spec.short()} but the rule gives {spec.short()}")
            if n.op == "constant":
                if n.value is None or TensorSpec(n.value.shape, n.value.dtype) != n.spec:
                    raise GraphError(f"{n.describe()}: constant value does not match spec {n.spec.short()}")
            elif SOURCE in opdef.groups and n not in self.inputs:
                raise GraphError(f"{n.describe()}: placeholder is not listed among the graph inputs")
        for o in self.outputs:
            if self._nodes.get(o.id) is not o:
                raise GraphError(f"graph output %{o.id} is not in the graph")
        self._toposort()  # raises on a cycle

    def copy(self) -> Graph:
        """A deep copy of the structure (constant values are shared: they are read-only)."""
        g = Graph(self.name)
        g.metadata = dict(self.metadata)
        mapping: dict[int, Node] = {}
        for n in self.nodes:
            m = Node(n.id, n.op, [mapping[i.id] for i in n.inputs], dict(n.attrs), n.spec, n.name, n.scope,
                     n.source, n.provenance, n.value)
            for i in m.inputs:
                i.users.append(m)
            g._nodes[m.id] = m
            mapping[n.id] = m
        g._names = set(self._names)
        g._name_counts = dict(self._name_counts)
        g._order = [mapping[n.id] for n in self.nodes]
        g.inputs = [mapping[n.id] for n in self.inputs]
        g.outputs = [mapping[n.id] for n in self.outputs]
        g._next_id = self._next_id
        return g

    # -- summaries ----------------------------------------------------------------------------
    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self._nodes.values():
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def parameter_count(self) -> int:
        return sum(n.spec.size for n in self._nodes.values() if n.op == "constant")

    def total_cost(self) -> tuple[int, int]:
        """(FLOPs, bytes moved) of one run, from the ops' cost rules."""
        flops = moved = 0
        for n in self._nodes.values():
            f, r, w = get_op(n.op).estimate_cost([i.spec for i in n.inputs], n.spec, n.attrs)
            flops += f
            moved += r + w
        return flops, moved

    def __str__(self) -> str:
        from graphscope.ir.printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph '{self.name}': {len(self)} nodes, {len(self.inputs)} inputs, {len(self.outputs)} outputs>"
