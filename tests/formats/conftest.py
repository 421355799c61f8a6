"""Fixtures of the file-format tests."""

from __future__ import annotations

import pytest

from graphscope.ir.ops import _REGISTRY, OpDef, register_op


@pytest.fixture
def nested_attr_op():
    """A test-only op whose attributes hold nested tuples, None, floats and strings."""
    def infer(specs, attrs):
        return specs[0]

    op = OpDef(
        "test_nested_attrs", 1, infer, lambda xp, x, **attrs: x,
        attrs={"pads": ((0, 0), (1, 2)), "fill": None, "scale": 1.0, "mode": "constant", "flag": False},
    )
    register_op(op)
    yield op.name
    del _REGISTRY[op.name]
