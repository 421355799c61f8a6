"""Models with planted numerical faults, their source lines, and a small MLP whose values NumPy recomputes."""

from __future__ import annotations

import numpy as np

import graphscope as gs


def line_of(tag: str, path: str = __file__) -> int:
    """The line number of the (only) line of ``path`` that carries ``tag``."""
    with open(path, encoding="utf-8") as f:
        hits = [k for k, text in enumerate(f, 1) if tag in text]
    assert len(hits) == 1, (tag, hits)
    return hits[0]


def source_of(tag: str) -> str:
    return f"{__file__}:{line_of(tag)}"


@gs.function
def log_model(x, w):
    """log of a product that is negative in places: NaN, in a chain that fuses at level 2."""
    with gs.name_scope("enc"):
        h = x @ w
        y = np.log(h)  # PLANT-LOG
        z = np.tanh(y * 2.0 + 1.0)
    with gs.name_scope("head"):
        return z.sum(axis=-1)


@gs.function
def norm_model(x, w):
    """Rows divided by their L1 norm: a row of zeros gives 0/0 = NaN, inside a fused group (abs, sum, div)."""
    with gs.name_scope("pre"):
        h = np.tanh(x @ w)
    with gs.name_scope("norm"):
        a = np.abs(x)
        s = a.sum(axis=-1, keepdims=True)
        q = a / s  # PLANT-DIV
        r = q * q + 1.0
    with gs.name_scope("out"):
        return h.sum(axis=-1) + r.sum(axis=-1)


@gs.function
def epilogue_model(x, w, b):
    """log(x @ w + b): the bias and log fuse into the product (a fused_matmul epilogue) at level 2."""
    with gs.name_scope("proj"):
        h = x @ w + b
        return np.log(h)  # PLANT-EPILOGUE


def log_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    x = rng.standard_normal((16, 32)).astype(np.float32)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    return [x, w]


def norm_inputs(rng: np.random.Generator, zero_row: int = 3) -> list[np.ndarray]:
    x = rng.standard_normal((8, 64)).astype(np.float32)
    x[zero_row] = 0.0
    w = rng.standard_normal((64, 16)).astype(np.float32)
    return [x, w]


class MLP:
    """Three dense layers and a softmax head, with weights the tests use to recompute values in NumPy."""

    def __init__(self, rng: np.random.Generator, batch: int = 64, sizes: tuple[int, ...] = (96, 256, 256, 128, 10)):
        self.layers = [((rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32),
                        (0.1 * rng.standard_normal(b)).astype(np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        layers = self.layers

        @gs.function(name="mlp")
        def model(x):
            h = x
            for i, (w, b) in enumerate(layers[:-1]):
                with gs.name_scope(f"layer{i + 1}"):
                    h = np.maximum(h @ w + b, 0)
            with gs.name_scope("head"):
                w, b = layers[-1]
                return gs.ops.softmax(h @ w + b, axis=-1)

        self.fn = model
        self.graph = model.get_graph(self.x)

    def numpy_values(self) -> dict[str, np.ndarray]:
        """Every intermediate by its level-0 node name, computed with NumPy."""
        out: dict[str, np.ndarray] = {}
        h = self.x
        for i, (w, b) in enumerate(self.layers[:-1]):
            p = f"layer{i + 1}"
            out[f"{p}/matmul"] = m = h @ w
            out[f"{p}/add"] = a = m + b
            out[f"{p}/maximum"] = h = np.maximum(a, np.float32(0))
        w, b = self.layers[-1]
        out["head/matmul"] = m = h @ w
        out["head/add"] = a = m + b
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        out["head/softmax"] = e / e.sum(axis=-1, keepdims=True)
        return out


