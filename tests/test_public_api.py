"""The public names of ``import graphscope as gs``: the lazy ones resolve, and load nothing before use."""

import subprocess
import sys

import numpy as np

import graphscope as gs


def test_lazy_names_resolve_to_the_real_objects():
    from graphscope.distribute.mirrored import MirroredStrategy
    from graphscope.formats.onnx_export import to_onnx
    from graphscope.formats.onnx_import import from_onnx
    from graphscope.trace.device import device

    assert gs.distribute.MirroredStrategy is MirroredStrategy
    assert gs.from_onnx is from_onnx and gs.to_onnx is to_onnx and gs.device is device


def test_mirrored_strategy_from_the_top_level(rng):
    w = rng.standard_normal((16, 4), dtype=np.float32)

    @gs.function
    def head(x):
        return np.tanh(x @ w)

    x = rng.standard_normal((10, 16), dtype=np.float32)
    with gs.distribute.MirroredStrategy(replicas=2).scope():
        y = head(x)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64) @ w.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_importing_graphscope_loads_no_optional_dependency():
    code = ("import sys, graphscope; bad = [m for m in ('dask', 'distributed', 'onnx', 'onnxruntime', 'cupy', 'dash', "
            "'plotly') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_unknown_attribute_is_an_attribute_error():
    try:
        gs.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("gs.no_such_thing did not raise")
