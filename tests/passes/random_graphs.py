"""Random computation graphs from the op catalogue, for property-based tests and format round trips.

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "passes"))  # from another tests/ folder
    from random_graphs import random_graph, graphs
    g, inputs = random_graph(np.random.default_rng(7))          # a seeded graph and inputs for it
    @given(graphs())                                            # a Hypothesis strategy of (graph, inputs)
    def test_something(case): g, inputs = case; ...

A graph is built step by step over one *domain* shape ``(R, C)`` (and a batched ``(2, R, C)``): each
step picks an op family and operands among the values made so far, so graphs have

* broadcasting (full values with row vectors ``(C,)``, columns ``(R, 1)``, scalars and batches),
* shared subexpressions (a value read by several nodes, and whole nodes built twice, for CSE),
* dead branches (values that reach no output, for DCE),
* constants (scalar and row-vector constants, and subgraphs of constants only, for folding),
* algebraic no-ops (``x * 1``, ``x + 0``, double transposes, reshape chains, same-dtype casts),
* products (``x @ W``, ``x @ W.T``, ``q @ k.mT`` followed by softmax) for the pattern passes,
* elementwise chains, last-axis and first-axis reductions, softmax and layer norm for fusion.

Values keep a rough magnitude bound, and ops that would overflow or lose all precision (``exp`` of
a large value, a square of a square of ...) are not picked for them, so a mismatch between two
evaluations of a graph is a bug, not float32 running out of range. Inputs are standard normal.

Choices go through a *chooser*: ``RngChooser`` (a NumPy generator: reproducible from a seed) or a
Hypothesis ``draw`` (``graphs()``), so Hypothesis can shrink a failing graph to a small one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from graphscope.ir.graph import Graph, Node
from graphscope.ir.spec import TensorSpec

ROWS = (1, 2, 5, 8, 33)
COLS = (1, 3, 8, 64, 130)  # 130 columns x 33 rows of float32 crosses the fusion and epilogue size thresholds
FAMILIES = ("unary", "binary", "constant", "reduce", "row_op", "matmul", "shape", "where", "cast", "duplicate",
            "dead")


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...  # lo..hi inclusive

    def pick(self, seq: Sequence[Any]) -> Any: ...

    def coin(self, p: float = 0.5) -> bool: ...


class RngChooser:
    """Choices from a NumPy generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)


class DrawChooser:
    """Choices drawn by Hypothesis (so failing graphs shrink)."""

    def __init__(self, draw: Callable[..., Any]) -> None:
        from hypothesis import strategies as st

        self.draw, self.st = draw, st

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.draw(self.st.integers(0, len(seq) - 1))]

    def coin(self, p: float = 0.5) -> bool:
        return self.draw(self.st.integers(0, 99)) < int(100 * p)


@dataclass
class Value:
    node: Node
    bound: float  # |value| stays below this (roughly)
    live: bool = True  # False: a dead branch (never picked for outputs or as an operand of live work)


class _Builder:
    def __init__(self, choose: Chooser, dtypes: Sequence[str]) -> None:
        self.c = choose
        self.g = Graph("random")
        self.rows, self.cols = choose.pick(ROWS), choose.pick(COLS)
        self.dtypes = tuple(dtypes)
        self.values: list[Value] = []
        self.n_const = 0

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def dt(self) -> str:
        return self.dtypes[0]

    def add(self, op: str, inputs: Sequence[Node], attrs: dict | None = None, bound: float = 1.0, live: bool = True) -> Value:
        v = Value(self.g.add_node(op, list(inputs), attrs or {}), float(bound), live)
        self.values.append(v)
        return v

    def const(self, value: Any, dtype: str | None = None) -> Node:
        self.n_const += 1
        return self.g.constant(np.asarray(value, dtype=dtype or self.dt), name=f"c{self.n_const}")

    def row_const(self, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
        return np.linspace(lo, hi, self.cols).astype(self.dt) + np.float32(0.25)

    def operand(self, live: bool = True, ndim_min: int = 0) -> Value:
        pool = [v for v in self.values if (v.live or not live) and v.node.spec.ndim >= ndim_min
                and v.node.spec.dtype.kind == "f"]
        return self.c.pick(pool or [v for v in self.values if v.node.spec.dtype.kind == "f"])

    def partner(self, a: Value) -> Value | None:
        """Another value that broadcasts with ``a``."""
        pool = []
        for v in self.values:
            if not v.live or v.node.spec.dtype.kind != "f":
                continue
            try:
                np.broadcast_shapes(a.node.shape, v.node.shape)
            except ValueError:
                continue
            pool.append(v)
        return self.c.pick(pool) if pool else None

    def positive(self, v: Value) -> Node:
        """abs(v) + 1 (for log, sqrt, division)."""
        return self.g.add_node("add", [self.g.add_node("abs", [v.node]), self.const(1.0, v.node.dtype.name)])

    # -- op families ----------------------------------------------------------------------------------
    def unary(self, live: bool) -> None:
        v = self.operand(live)
        x, bd = v.node, v.bound
        choices = ["neg", "abs", "tanh", "sigmoid", "sin", "cos", "relu", "gelu", "gelu_tanh", "log1p", "sqrt",
                   "reciprocal", "floor"]
        if bd <= 4:
            choices.append("exp")
        if bd <= 30:
            choices += ["square", "pow3" if bd <= 10 else "square"]
        op = self.c.pick(choices)
        if op in ("tanh", "sigmoid", "sin", "cos"):
            self.add(op, [x], bound=1.0, live=live)
        elif op in ("neg", "abs", "relu", "floor"):
            self.add(op, [x], bound=bd + 1, live=live)
        elif op == "gelu":
            self.add("gelu", [x], bound=bd + 1, live=live)
        elif op == "gelu_tanh":
            self.add("gelu", [x], {"approximate": "tanh"}, bound=bd + 1, live=live)
        elif op == "log1p":
            self.add("log", [self.positive(v)], bound=math.log(bd + 2), live=live)
        elif op == "sqrt":
            self.add("sqrt", [self.positive(v)], bound=math.sqrt(bd + 1), live=live)
        elif op == "reciprocal":
            self.add("reciprocal", [self.positive(v)], bound=1.0, live=live)
        elif op == "exp":
            self.add("exp", [x], bound=math.exp(bd), live=live)
        elif op == "square":
            self.add("square", [x], bound=bd * bd, live=live)
        else:  # x**3, spelled as NumPy users do (the fusion pass lowers it to x*x*x)
            self.add("pow", [x, self.const(3.0, x.dtype.name)], bound=bd ** 3, live=live)

    def binary(self, live: bool) -> None:
        a = self.operand(live)
        b = self.partner(a)
        if b is None:
            return self.unary(live)
        choices = ["add", "sub", "maximum", "minimum", "div"]
        if a.bound * b.bound <= 1e4:
            choices.append("mul")
        op = self.c.pick(choices)
        if op == "div":
            self.add("div", [a.node, self.positive(b)], bound=a.bound, live=live)
        else:
            bound = a.bound * b.bound if op == "mul" else a.bound + b.bound
            args = [a.node, b.node] if self.c.coin() else [b.node, a.node]
            self.add(op, args, bound=bound, live=live)

    def constant(self, live: bool) -> None:
        v = self.operand(live)
        x, dt = v.node, v.node.dtype.name
        kind = self.c.pick(["mul1", "add0", "sub0", "scale", "shift", "row", "folded"])
        if kind == "mul1":  # x * 1: removed by simplification
            self.add("mul", [x, self.const(1.0, dt)] if self.c.coin() else [self.const(1.0, dt), x], bound=v.bound, live=live)
        elif kind == "add0":  # x + 0.0: exact only at level 3
            self.add("add", [x, self.const(0.0, dt)], bound=v.bound, live=live)
        elif kind == "sub0":
            self.add("sub", [x, self.const(0.0, dt)], bound=v.bound, live=live)
        elif kind == "scale":
            s = self.c.pick([0.5, -2.0, 0.125, 3.0])
            self.add("mul", [x, self.const(s, dt)], bound=v.bound * abs(s), live=live)
        elif kind == "shift":
            self.add("add", [self.const(-1.5, dt), x], bound=v.bound + 1.5, live=live)
        elif kind == "row" and x.spec.ndim >= 1 and x.shape[-1] == self.cols:  # a bias-like row vector
            self.add(self.c.pick(["add", "mul"]), [x, self.g.constant(self.row_const(), name="row")], bound=v.bound * 1.5 + 1,
                     live=live)
        else:  # a subgraph of constants only: folded at optimize time
            c = self.g.add_node("mul", [self.g.constant(self.row_const(0.5, 2.0), name="base"), self.const(2.0)])
            c = self.g.add_node("sqrt", [self.g.add_node("add", [c, self.const(1.0)])])
            if x.spec.ndim >= 1 and x.shape[-1] == self.cols:
                self.add("mul", [x, c], bound=v.bound * 3, live=live)
            else:
                self.add("add", [x, self.g.add_node("sum", [c], {"axis": None})], bound=v.bound + 3 * self.cols, live=live)

    def reduce(self, live: bool) -> None:
        v = self.operand(live, ndim_min=1)
        x = v.node
        if x.spec.ndim == 0:
            return self.unary(live)
        op = self.c.pick(["sum", "mean", "max", "min", "var"])
        axis = -1 if self.c.coin(0.75) else 0
        n = x.shape[axis]
        bound = v.bound * n if op == "sum" else (v.bound * v.bound if op == "var" else v.bound)
        if bound > 1e5:
            op, bound = "mean", v.bound
        attrs: dict[str, Any] = {"axis": axis, "keepdims": self.c.coin()}
        self.add(op, [x], attrs, bound=bound, live=live)

    def row_op(self, live: bool) -> None:
        v = self.operand(live, ndim_min=1)
        x = v.node
        if x.spec.ndim == 0 or x.dtype.name not in ("float32", "float64"):
            return self.unary(live)
        op = self.c.pick(["softmax", "log_softmax", "layer_norm"])
        if op == "layer_norm":
            n = x.shape[-1]
            gamma = self.g.constant(np.linspace(0.5, 1.5, n).astype(x.dtype), name="gamma")
            beta = self.g.constant(np.linspace(-0.2, 0.2, n).astype(x.dtype), name="beta")
            self.add("layer_norm", [x, gamma, beta], bound=math.sqrt(n) * 1.5 + 1, live=live)
        else:
            self.add(op, [x], {"axis": -1}, bound=1.0 if op == "softmax" else v.bound * 2 + math.log(x.shape[-1] + 1),
                     live=live)

    def matmul(self, live: bool) -> None:
        v = self.operand(live, ndim_min=2)
        x = v.node
        if x.spec.ndim < 2 or x.dtype.kind != "f":
            return self.binary(live)
        k = x.shape[-1]
        n = self.c.pick([self.cols, 4])
        rng = np.random.default_rng(len(self.g))
        kind = self.c.pick(["dense", "dense_t", "scores", "scores_softmax"])
        if kind in ("dense", "dense_t"):  # x @ W (+ epilogue work later), or x @ W.T with W stored (n, k)
            scale = 1.0 / math.sqrt(k)
            if kind == "dense":
                w = self.g.constant((rng.standard_normal((k, n)) * scale).astype(x.dtype), name="w")
            else:
                wt = self.g.constant((rng.standard_normal((n, k)) * scale).astype(x.dtype), name="wt")
                w = self.g.add_node("transpose", [wt], {"perm": (1, 0)})
            self.add("matmul", [x, w], bound=v.bound * 3 + 1, live=live)
        else:  # q @ k.mT over the value itself and a partner of its shape: attention scores
            other = self.c.pick([u for u in self.values if u.live and u.node.shape == x.shape] or [v])
            nd = x.spec.ndim
            kt = self.g.add_node("transpose", [other.node], {"perm": tuple(range(nd - 2)) + (nd - 1, nd - 2)})
            s = self.g.add_node("matmul", [x, kt])
            bound = v.bound * other.bound * k
            if kind == "scores_softmax" or bound > 1e4:
                scaled = self.g.add_node("mul", [s, self.const(1.0 / max(bound, 1.0) * 4, x.dtype.name)])
                self.add("softmax", [scaled], {"axis": -1}, bound=1.0, live=live)
            else:
                self.values.append(Value(s, bound, live))

    def shape(self, live: bool) -> None:
        v = self.operand(live, ndim_min=2)
        x = v.node
        if x.spec.ndim < 2:
            return self.unary(live)
        nd = x.spec.ndim
        swap = tuple(range(nd - 2)) + (nd - 1, nd - 2)
        kind = self.c.pick(["double_transpose", "transpose", "reshape_chain", "reshape_back"])
        if kind == "double_transpose":  # cancels
            t = self.g.add_node("transpose", [x], {"perm": swap})
            self.add("transpose", [t], {"perm": swap}, bound=v.bound, live=live)
        elif kind == "transpose":
            self.add("transpose", [x], {"perm": swap}, bound=v.bound, live=live)
        elif kind == "reshape_chain":  # (.., R, C) -> (.., R*C) -> (.., R, C)
            flat = self.g.add_node("reshape", [x], {"shape": x.shape[:-2] + (x.shape[-2] * x.shape[-1],)})
            self.add("reshape", [flat], {"shape": x.shape}, bound=v.bound, live=live)
        else:
            self.add("reshape", [x], {"shape": x.shape[:-2] + (x.shape[-1], x.shape[-2])}, bound=v.bound, live=live)

    def where(self, live: bool) -> None:
        a = self.operand(live)
        b = self.partner(a)
        if b is None:
            return self.unary(live)
        cond = self.g.add_node(self.c.pick(["greater", "less_equal"]), [a.node, b.node])
        self.add("where", [cond, a.node, b.node], bound=max(a.bound, b.bound), live=live)

    def cast(self, live: bool) -> None:
        v = self.operand(live)
        x = v.node
        target = self.c.pick(["float64", "float32", x.dtype.name])  # the last one is a no-op cast
        if target == "float64" and self.c.coin():  # and back: a float64 detour
            x = self.g.add_node("cast", [x], {"dtype": "float64"})
            target = "float32"
        self.add("cast", [x], {"dtype": target}, bound=v.bound, live=live)

    def duplicate(self, live: bool) -> None:
        """The same op on the same inputs again (a common subexpression), or one value read twice."""
        made = [v for v in self.values if v.live and v.node.op not in ("placeholder", "constant")]
        if not made or self.c.coin(0.3):
            v = self.operand(live)
            self.add(self.c.pick(["add", "mul", "maximum"]), [v.node, v.node], bound=max(v.bound * v.bound, 2 * v.bound),
                     live=live)
            return None
        v = self.c.pick(made)
        self.add(v.node.op, v.node.inputs, dict(v.node.attrs), bound=v.bound, live=live)

    def dead(self, live: bool) -> None:
        for _ in range(self.c.integer(1, 3)):
            getattr(self, self.c.pick(["unary", "binary", "constant", "reduce"]))(False)

    # -- the graph ------------------------------------------------------------------------------------
    def build(self, n_ops: int, n_outputs: int) -> tuple[Graph, list[np.ndarray]]:
        r, c, dt = self.rows, self.cols, self.dt
        shapes = [(r, c)] + [self.c.pick([(r, c), (c,), (r, 1), (2, r, c), ()]) for _ in range(self.c.integer(0, 2))]
        for k, shape in enumerate(shapes):
            dtype = self.c.pick(self.dtypes) if k else dt
            self.values.append(Value(self.g.placeholder(f"x{k}", TensorSpec(shape, dtype)), 4.0))
        for _ in range(n_ops):
            getattr(self, self.c.pick(FAMILIES))(True)
        made = [v for v in self.values if v.live and v.node.op not in ("placeholder", "constant")]
        if not made:
            self.unary(True)
            made = [self.values[-1]]
        outs = [made[-1].node]
        for _ in range(n_outputs - 1):
            extra = self.c.pick(made).node
            if extra not in outs:
                outs.append(extra)
        self.g.set_outputs(outs)
        self.g.lint()
        return self.g, inputs_for(self.g, self.c)


def inputs_for(graph: Graph, choose: Chooser | None = None) -> list[np.ndarray]:
    """Standard-normal inputs of the graph's input specs (seeded from the chooser)."""
    seed = choose.integer(0, 2**31 - 1) if choose is not None else 0
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n.spec.shape).astype(n.spec.dtype) for n in graph.inputs]


def build_graph(choose: Chooser, *, max_ops: int = 14, dtypes: Sequence[str] = ("float32", "float32", "float64"),
                max_outputs: int = 2) -> tuple[Graph, list[np.ndarray]]:
    """A random graph and inputs for it, every choice made by ``choose``."""
    b = _Builder(choose, dtypes)
    return b.build(choose.integer(1, max_ops), choose.integer(1, max_outputs))


def random_graph(rng: np.random.Generator | int, **kw: Any) -> tuple[Graph, list[np.ndarray]]:
    """A reproducible random graph (and inputs) from a NumPy generator or a seed; keywords as ``build_graph``."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return build_graph(RngChooser(rng), **kw)


def graphs(**kw: Any) -> Any:
    """A Hypothesis strategy of ``(graph, inputs)``; keywords as ``build_graph``."""
    from hypothesis import strategies as st

    @st.composite
    def strategy(draw: Callable[..., Any]) -> tuple[Graph, list[np.ndarray]]:
        return build_graph(DrawChooser(draw), **kw)

    return strategy()


__all__ = ["DrawChooser", "FAMILIES", "RngChooser", "build_graph", "graphs", "inputs_for", "random_graph"]
