"""Importing this package registers every op of the catalogue (one module per family)."""

import graphscope.ir.op_defs.fused  # noqa: F401  (the fused op made by the elementwise fusion pass)
from graphscope.ir.op_defs import elementwise, linalg, nn, reduce, shape, source  # noqa: F401
