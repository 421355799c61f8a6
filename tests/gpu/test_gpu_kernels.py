"""A GPU kernel for every op of the catalogue, CuPy's real API names, and the fused-kernel generator.

Without a GPU: every op case of ``tests/ops/op_cases.py`` runs through the CuPy backend's executor on
the simulated device (``gpu_fake``), whose array module refuses any name real CuPy lacks (when CuPy is
installed; its import needs no GPU), so a kernel written against a NumPy-only function fails here
instead of on a user's GPU. The generated CUDA C is checked through its host C++ twin (same
expressions, same prelude) against NumPy. On a CUDA machine ``tests/ops`` runs the same cases on the
real device and ``benchmarks/gpu_check.py`` checks them with fresh random data.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import types

import numpy as np
import pytest
from gpu_fake import CXX, FakeCuda, host_launcher

from graphscope.backends import cupy_backend as cb
from graphscope.backends.cupy_backend import CudaRuntime, CupyBackend, GeneratedKernel, Unsupported, generate_fused
from graphscope.ir.graph import Graph
from graphscope.ir.ops import all_ops, get_op
from graphscope.ir.spec import TensorSpec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops"))
from op_cases import CASES, NOT_TESTED_HERE, Case, assert_close  # noqa: E402

try:
    import cupy
except Exception:  # pragma: no cover - CuPy not installed
    cupy = None

needs_cxx = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) to build the generated kernels' host twins")
needs_cupy = pytest.mark.skipif(cupy is None, reason="CuPy is not installed (pip install cupy-cuda12x: its import needs no GPU)")


@pytest.fixture(scope="module")
def backend() -> CupyBackend:
    return CupyBackend(runtime=FakeCuda())


def test_every_catalogue_op_has_a_gpu_case():
    ops = set(all_ops()) - NOT_TESTED_HERE
    assert not sorted(ops - {c.op for c in CASES}), "every op runs on the GPU executor through its case"


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_op_on_the_gpu_executor(backend: CupyBackend, c: Case):
    if c.op in ("fused", "fused_matmul") and CXX is None:
        pytest.skip("no C++ compiler for the generated kernel's host twin")
    want = np.asarray(c.ref(*c.inputs))
    dtype = np.dtype(c.dtype) if c.dtype else want.dtype
    g = Graph(c.op)
    inputs = [g.placeholder(f"in{i}", TensorSpec.of(a)) for i, a in enumerate(c.inputs)]
    node = g.add_node(c.op, inputs, c.attrs)
    g.set_outputs([node])
    run = backend.run(g, c.inputs, profile=True)
    (got,) = run.outputs
    assert isinstance(got, np.ndarray) and TensorSpec(got.shape, got.dtype) == node.spec
    assert_close(got, want, dtype, c.tol, f"{c.id} on the GPU executor")
    events = {e.node_id: e for e in run.profile.iterations[0]}
    assert events[node.id].device_ns is not None and events[node.id].lane.startswith("gpu:0/stream")


# -- CuPy's API as the backend uses it ---------------------------------------------------------------


def _cp_chains(cls: type) -> set[str]:
    """Every ``self.cp.a.b`` / ``cp.a.b`` attribute chain in ``cls``'s methods (``cp`` is the CuPy module)."""
    out = set()
    for node in ast.walk(ast.parse(inspect.getsource(cls))):
        parts, cur = [], node
        while isinstance(cur, ast.Attribute):
            parts.insert(0, cur.attr)
            cur = cur.value
        if isinstance(cur, ast.Name) and cur.id == "self" and parts[:1] == ["cp"]:
            parts = parts[1:]
        elif not (isinstance(cur, ast.Name) and cur.id == "cp"):
            continue
        if parts:
            out.add(".".join(parts))
    return {c for c in out if not any(o.startswith(c + ".") for o in out)}  # the longest chains


@needs_cupy
def test_cuda_runtime_calls_only_names_cupy_has():
    chains = _cp_chains(CudaRuntime)
    assert {"cuda.Stream", "cuda.Event", "cuda.get_elapsed_time", "RawKernel", "get_default_memory_pool"} <= chains
    for chain in sorted(chains):
        obj = cupy
        for part in chain.split("."):
            assert hasattr(obj, part), f"CudaRuntime uses cupy.{chain}, which CuPy {cupy.__version__} lacks"
            obj = getattr(obj, part)
    # Keywords the runtime passes, bound against CuPy's own signatures.
    inspect.signature(cupy.cuda.Stream).bind(non_blocking=True)
    inspect.signature(cupy.cuda.Event).bind(disable_timing=True)
    assert "options" in (cupy.RawKernel.__doc__ or "")
    # Methods the executor calls on CuPy's objects.
    for cls, names in ((cupy.cuda.Stream, ("use", "wait_event", "synchronize")), (cupy.cuda.Event, ("record",)),
                       (cupy.cuda.MemoryPool, ("used_bytes", "total_bytes")), (cupy.ndarray, ("get", "base", "nbytes")),
                       (cupy.cuda.Device, ("synchronize",))):
        for name in names:
            assert hasattr(cls, name), f"{cls.__name__}.{name} is not in CuPy {cupy.__version__}"
    import cupyx.scipy.special

    assert callable(cupyx.scipy.special.erf)  # graphscope.ir.special's erf on the GPU


@needs_cupy
def test_the_simulated_device_refuses_numpy_only_names():
    xp = FakeCuda().xp
    with pytest.raises(AttributeError, match=r"cupy\.insert does not exist in CuPy .*NumPy-only name"):
        xp.insert  # noqa: B018
    assert xp.lib.stride_tricks.as_strided is not None  # nested modules are checked too


class _RecordingCupy(types.SimpleNamespace):
    """Just enough of a CuPy module to watch CudaRuntime (no GPU): records RawKernel builds and times."""

    def __init__(self) -> None:
        built: list[tuple] = []

        class RawKernel:
            def __init__(self, code, name, options=()):
                built.append((code, name, tuple(options)))

        class Pool:
            def used_bytes(self):
                return 1536

            def total_bytes(self):
                return 4096

        cuda = types.SimpleNamespace(get_elapsed_time=lambda a, b: 1.25)  # milliseconds, as CuPy
        super().__init__(RawKernel=RawKernel, built=built, cuda=cuda, get_default_memory_pool=Pool)


def _kernel(program, specs) -> GeneratedKernel:
    return generate_fused(program, [TensorSpec(s, "float32") for s in specs])


def test_cuda_runtime_compiles_each_program_once_and_converts_units():
    cp = _RecordingCupy()
    rt = CudaRuntime(cp)
    a = _kernel((("tanh", (0,), ()),), [(4, 8)])
    b = _kernel((("exp", (0,), ()),), [(4, 8)])
    assert rt.compile(a) is rt.compile(_kernel((("tanh", (0,), ()),), [(4, 8)]))
    rt.compile(b)
    assert [(name, opts) for _, name, opts in cp.built] == [("gs_fused", ("--fmad=false",))] * 2
    assert rt.elapsed_ns(None, None) == 1_250_000
    assert rt.pool_bytes() == (1536, 4096)


# -- the generator ----------------------------------------------------------------------------------

F32 = "float32"


def _run_generated(program, arrays, out_spec=None):
    """The program through its generated kernel's host twin, launched as FusedLauncher launches it."""
    specs = [TensorSpec.of(a) for a in arrays]
    gen = generate_fused(program, specs)
    out = np.empty(gen.out_spec.shape, gen.out_spec.dtype)
    host_launcher(gen.host_source, gen.name)((gen.grid,), (gen.block,), (*[np.ascontiguousarray(a) for a in arrays], out,
                                                                          *gen.scalar_args()))
    return gen, out


def _reference(program, arrays):
    return np.asarray(get_op("fused").impl(np, *arrays, program=program))


GEN_CASES = {
    # a thread per element, broadcasts of a row, a column and a scalar
    "flat-broadcast": ((("mul", (0, 1), ()), ("add", (3, 2), ()), ("tanh", (4,), ())),
                       [(6, 5), (5,), (6, 1)]),
    # softmax over the last axis: two reduction phases and a row-wise output
    "softmax": ((("max", (0,), (("axis", -1), ("keepdims", True))), ("sub", (0, 1), ()), ("exp", (2,), ()),
                 ("sum", (3,), (("axis", -1), ("keepdims", True))), ("div", (3, 4), ())), [(7, 33)]),
    # a final reduction without keepdims (one value per row), of a product
    "row-mean": ((("mul", (0, 0), ()), ("mean", (1,), (("axis", -1),))), [(5, 40)]),
    # operands read per block of rows (div) and as a block repeated along the leading axes (mod)
    "div-mod": ((("add", (0, 1), ()), ("mul", (2, 3), ())), [(2, 3, 4), (2, 1, 1), (3, 4)]),
    "gelu-tanh": ((("gelu", (0,), (("approximate", "tanh"),)),), [(4, 9)]),
    "clip-where": ((("clip", (0,), (("min", -0.5), ("max", 0.75))), ("greater", (0, 1), ()), ("where", (3, 2, 1), ())),
                   [(3, 8), (3, 8)]),
}


@needs_cxx
@pytest.mark.parametrize("key", list(GEN_CASES))
def test_generated_kernels_match_numpy(key):
    program, shapes = GEN_CASES[key]
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(F32) for s in shapes]
    gen, got = _run_generated(program, arrays)
    want = _reference(program, arrays)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"{key}:\n{gen.host_source}")
    assert gen.kind == ("rows" if key in ("softmax", "row-mean") else "flat")


@needs_cxx
def test_integer_division_and_nan_follow_numpy_exactly():
    a = np.array([[7, -7, 7, -7, 0, -128, 5, 3]], dtype=np.int32)
    b = np.array([[2, 2, -2, -2, 3, -1, 0, 0]], dtype=np.int32)
    for op in ("floordiv", "mod"):
        program = ((op, (0, 1), ()),)
        with np.errstate(divide="ignore"):
            want = _reference(program, [a, b])
        np.testing.assert_array_equal(_run_generated(program, [a, b])[1], want, err_msg=op)
    x = np.array([[1.0, np.nan, 3.0], [-7.5, 2.0, np.inf]], dtype=F32)
    y = np.array([[0.5, 1.0, np.nan], [-2.0, 0.0, 1.0]], dtype=F32)
    for op in ("maximum", "minimum", "floordiv", "mod"):
        program = ((op, (0, 1), ()),)
        with np.errstate(all="ignore"):
            want = _reference(program, [x, y])
            got = _run_generated(program, [x, y])[1]
        np.testing.assert_array_equal(got, want, err_msg=op)  # NaN positions and values equal
    program = (("max", (0,), (("axis", -1), ("keepdims", True))),)
    np.testing.assert_array_equal(_run_generated(program, [x])[1], _reference(program, [x]))


@pytest.mark.parametrize(("program", "shapes", "reason"), [
    ((("add", (0, 1), ()),), [(2, 3, 4, 5), (3, 1, 5)], "along middle axes"),
    ((("sum", (0,), (("axis", 0), ("keepdims", True))), ("add", (0, 1), ())), [(3, 4)], "over its last axis"),
])
def test_unsupported_programs_say_why(program, shapes, reason):
    with pytest.raises(Unsupported, match=reason):
        generate_fused(program, [TensorSpec(s, F32) for s in shapes])


@needs_cxx
def test_a_kernel_that_fails_to_build_falls_back_with_a_warning():
    fake = FakeCuda()
    be = CupyBackend(runtime=fake)
    g = Graph("f")
    x = g.placeholder("x", TensorSpec((3, 4), F32))
    g.set_outputs([g.add_node("fused", [x], {"program": (("tanh", (0,), ()), ("mul", (1, 1), ()))})])
    fake.compile = lambda kernel: (_ for _ in ()).throw(RuntimeError("nvrtc: error: identifier undefined\nmore"))
    v = np.random.default_rng(0).standard_normal((3, 4)).astype(F32)
    with pytest.warns(cb.GpuKernelWarning, match="compiled CUDA kernel failed \\(nvrtc: error: identifier undefined\\)"):
        run = be.run(g, [v], profile=True)
    np.testing.assert_allclose(run.outputs[0], np.tanh(v) ** 2, rtol=1e-6)
    (engine,) = run.profile.metadata["gpu"]["kernels"].values()
    assert engine.startswith("reference (CUDA kernel failed: RuntimeError: nvrtc")
