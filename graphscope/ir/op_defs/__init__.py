"""Importing this package registers every op of the catalogue (one module per family)."""

import graphscope.ir.op_defs.fused  # noqa: F401  (the fused op made by the elementwise fusion pass)
import graphscope.ir.op_defs.fused_matmul  # noqa: F401  (matmul with transposes and an in-place epilogue: pattern fusion)
import graphscope.ir.op_defs.onnx_extra  # noqa: F401  (ops added for ONNX import: trigonometry, cumsum, argsort)
import graphscope.ir.op_defs.transfer  # noqa: F401  (to_device / to_host, inserted by placement)
from graphscope.ir.op_defs import elementwise, linalg, nn, reduce, shape, source  # noqa: F401
