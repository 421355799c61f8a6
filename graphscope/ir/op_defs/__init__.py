"""Importing this package registers every op of the catalogue (one module per family)."""

from graphscope.ir.op_defs import elementwise, linalg, nn, reduce, shape, source  # noqa: F401
