"""Device placement as pure functions over a graph: which device each node runs on
(``placement``), explicit transfer nodes on every edge between devices (``transfers``), and CUDA
stream assignment with the events that order dependent streams (``streams``).

None of this needs a GPU or CuPy: the GPU backend (``graphscope.backends.cupy_backend``) calls
these functions to build what it executes.
"""

from graphscope.placement.placement import (
    CPU,
    PlacementError,
    assign_devices,
    device_summary,
    exec_device,
    input_device,
    is_gpu,
    parse_device,
    recorded_placement,
)
from graphscope.placement.streams import StreamPlan, assign_streams, unsynchronized
from graphscope.placement.transfers import Placed, Transfer, crossings, insert_transfers

__all__ = [
    "CPU", "Placed", "PlacementError", "StreamPlan", "Transfer", "assign_devices", "assign_streams", "crossings",
    "device_summary", "exec_device", "input_device", "insert_transfers", "is_gpu", "parse_device", "recorded_placement",
    "unsynchronized",
]
