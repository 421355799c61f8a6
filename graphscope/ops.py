"""The public ops: ``gs.ops.softmax(x, axis=-1)`` and friends.

Each works on NumPy arrays (eager: computed at once) and on traced tensors (a node is added).
One function per catalogue op is generated from its OpDef: inputs come first, then the op's
attributes, by position in their declared order or by keyword. Ops whose Python signature differs
from that rule (lists of inputs, NumPy-style indexing) are written out below the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphscope.ir.ops import OpDef, all_ops, get_op
from graphscope.trace.tensor import apply_op


def _make(opdef: OpDef) -> Callable[..., Any]:
    n_in = opdef.arity if isinstance(opdef.arity, int) else None
    attr_names = list(opdef.attrs)

    def op_function(*args: Any, name: str | None = None, **attrs: Any) -> Any:
        inputs, extra = (args[:n_in], args[n_in:]) if n_in is not None else (args, ())
        if len(extra) > len(attr_names):
            raise TypeError(f"{opdef.name}() takes {n_in} inputs and attributes {attr_names}, got {len(args)} arguments")
        for key, value in zip(attr_names, extra):
            if key in attrs:
                raise TypeError(f"{opdef.name}() got attribute '{key}' twice")
            attrs[key] = value
        return apply_op(opdef.name, inputs, attrs, name=name)

    op_function.__name__ = op_function.__qualname__ = opdef.name
    attrs_doc = ", ".join(f"{k}={v!r}" for k, v in opdef.attrs.items())
    op_function.__doc__ = f"{opdef.doc}\n\nInputs: {opdef.arity}; attributes: {attrs_doc or 'none'}."
    return op_function


for _name, _opdef in all_ops().items():
    if _opdef.arity != 0:  # placeholder/constant are made by tracing, not called
        globals()[_name] = _make(_opdef)


def op(name: str, *args: Any, **attrs: Any) -> Any:
    """Apply any catalogue op by name: ``gs.ops.op("gelu", x, approximate="tanh")``."""
    return _make(get_op(name))(*args, **attrs)


_NOT_OPS = {"annotations", "Any", "Callable", "OpDef", "Sequence", "all_ops", "get_op", "apply_op"}
__all__ = sorted(n for n in globals() if not n.startswith("_") and n not in _NOT_OPS)
