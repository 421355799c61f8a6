"""A stand-in for CUDA at the backend's device boundary (``CudaRuntime``), for machines without a GPU.

Everything above that boundary is the real code: placement, transfers, stream assignment, the GPU
executor's steps, its event and memory bookkeeping, ``make_profile``, the CUDA C generator. Only what
``CudaRuntime`` wraps is replaced:

* ``FakeCuda.xp``: NumPy posing as CuPy. Its arrays are ``DeviceArray`` (a NumPy subclass), so the
  executor can tell device values from host ones; when CuPy is installed (its import works without a
  GPU), every ``xp.<name>`` a kernel touches must also exist in CuPy, or the call fails and names it.
* streams and events on a simulated device clock: each device call advances the current stream's
  clock by ``LAUNCH_NS + result bytes``, each upload/download by ``COPY_NS + bytes``; ``wait_event``
  moves a stream's clock up to the event. So elapsed times between events are known exactly.
* a memory pool that counts the bytes of live owning DeviceArrays (freed when Python drops them),
  an independent measure of what the executor's logical accounting says is live.
* ``compile``: the generated kernel's host C++ twin, built with the system's C++ compiler (a test
  needing it skips when there is none).

Every call the executor makes is logged in ``FakeCuda.log`` (``("record", event, stream)``, ...).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import types
import weakref
from typing import Any

import numpy as np

try:  # the real API to check names against; importing CuPy needs no GPU
    import cupy as _cupy
except Exception:  # pragma: no cover - CuPy not installed
    _cupy = None

LAUNCH_NS = 1_000
COPY_NS = 2_000
_ACTIVE: FakeCuda | None = None  # the fake whose clock and pool device arrays charge


class DeviceArray(np.ndarray):
    """A NumPy array playing a CuPy device array. Arrays that own their memory are counted by the pool."""

    def __array_finalize__(self, obj: Any) -> None:
        if self.base is None and _ACTIVE is not None:
            _ACTIVE.pool.adopt(self)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, out: Any = None, **kwargs: Any) -> Any:
        with _device_call() as call:
            args = [_plain(a) for a in inputs]
            if out is not None:
                kwargs["out"] = tuple(_plain(o) for o in out)
            result = getattr(ufunc, method)(*args, **kwargs)
            if out is not None:
                return out[0] if len(out) == 1 else out
            return call.result(result, inputs)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        with _device_call() as call:
            result = func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})
            return call.result(result, (*args, *kwargs.values()))

    def __getitem__(self, index: Any) -> Any:
        r = super().__getitem__(index)
        return r if isinstance(r, np.ndarray) else _owning(np.asarray(r))  # CuPy gives 0-d arrays, not scalars

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))


def _plain(x: Any) -> Any:
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _owning(a: np.ndarray) -> DeviceArray:
    out = DeviceArray(a.shape, a.dtype)
    out[...] = a
    return out


def _device_arrays(values: Any) -> list[DeviceArray]:
    out = []
    for v in values:
        if isinstance(v, DeviceArray):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out += _device_arrays(v)
    return out


class _Call:
    """One device call: converts its result to device arrays and charges the clock once (outermost call)."""

    def __init__(self, fake: FakeCuda | None) -> None:
        self.fake = fake
        self.nbytes = 0

    def result(self, value: Any, inputs: Any) -> Any:
        value = self._device(value, _device_arrays(inputs))
        self.nbytes += sum(v.nbytes for v in (value if isinstance(value, (list, tuple)) else [value])
                           if isinstance(v, np.ndarray))
        return value

    def _device(self, value: Any, sources: list[DeviceArray]) -> Any:
        if isinstance(value, DeviceArray):
            return value
        if isinstance(value, np.ndarray):
            if any(np.may_share_memory(value, s.view(np.ndarray)) for s in sources):
                return value.view(DeviceArray)  # a view stays a view of the device array
            return _owning(value)
        if isinstance(value, np.generic):
            return _owning(np.asarray(value))
        if isinstance(value, (list, tuple)):
            return type(value)(self._device(v, sources) for v in value)
        return value


class _device_call:  # noqa: N801 - used as a context manager, like a function
    def __enter__(self) -> _Call:
        fake = _ACTIVE
        self.call = _Call(fake)
        if fake is not None:
            fake.depth += 1
        return self.call

    def __exit__(self, *exc: Any) -> None:
        fake = self.call.fake
        if fake is not None:
            fake.depth -= 1
            if fake.depth == 0 and exc[0] is None:
                fake.charge(LAUNCH_NS + self.call.nbytes)


class FakeXp(types.ModuleType):
    """NumPy posing as CuPy: device-array results, and (with CuPy installed) only names CuPy has."""

    def __init__(self, real: types.ModuleType = np, check: types.ModuleType | None = _cupy, path: str = "cupy") -> None:
        super().__init__("numpy")  # graphscope.ir.special picks scipy's special functions for "numpy"
        self._real, self._check, self._path = real, check, path

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._real, name)
        path = f"{self._path}.{name}"
        check = None
        if self._check is not None:
            if not hasattr(self._check, name):
                raise AttributeError(f"{path} does not exist in CuPy {_cupy.__version__}: a kernel uses a NumPy-only name")
            check = getattr(self._check, name)
        if isinstance(value, types.ModuleType):
            return FakeXp(value, check, path)
        if callable(value) and not isinstance(value, type):
            def device_fn(*args: Any, **kwargs: Any) -> Any:
                with _device_call() as call:
                    return call.result(value(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}),
                                       (*args, *kwargs.values()))

            device_fn.__name__ = name
            return device_fn
        return value


class FakePool:
    def __init__(self) -> None:
        self.used = 0
        self.total = 0  # a pool keeps what it once held: the high-water mark

    def adopt(self, a: np.ndarray) -> None:
        n = int(a.nbytes)
        self.used += n
        self.total = max(self.total, self.used)
        weakref.finalize(a, self._release, n)

    def _release(self, n: int) -> None:
        self.used -= n


class FakeStream:
    def __init__(self, fake: FakeCuda, name: str) -> None:
        self.fake, self.name, self.clock = fake, name, 0

    def use(self) -> FakeStream:
        self.fake.current = self
        self.fake.log.append(("use", self.name))
        return self

    def wait_event(self, event: FakeEvent) -> None:
        assert event.stream is not None, "waiting for an event that was never recorded"
        self.clock = max(self.clock, event.time)
        self.fake.log.append(("wait", event.name, self.name))

    def __repr__(self) -> str:
        return f"<FakeStream {self.name}>"


class FakeEvent:
    def __init__(self, fake: FakeCuda, name: str, timing: bool) -> None:
        self.fake, self.name, self.timing = fake, name, timing
        self.stream: FakeStream | None = None
        self.time = 0

    def record(self, stream: FakeStream | None = None) -> None:
        stream = stream or self.fake.current
        self.stream, self.time = stream, stream.clock
        self.fake.log.append(("record", self.name, stream.name))


class FakeCuda:
    """The device boundary of ``CupyBackend`` (the methods of ``CudaRuntime``), simulated on NumPy."""

    def __init__(self, index: int = 0, *, check_names: bool = True) -> None:
        self.index = index
        self.device_name = f"gpu:{index}"
        self.xp = FakeXp(check=_cupy if check_names else None)
        self.pool = FakePool()
        self.log: list[tuple] = []
        self.depth = 0
        self.null = FakeStream(self, "null")
        self.current = self.null
        self.n_streams = self.n_events = 0
        self.syncs = 0
        self.activate()

    # -- clock ---------------------------------------------------------------------------------
    def charge(self, ns: int) -> None:
        self.current.clock += int(ns)

    # -- CudaRuntime's methods -----------------------------------------------------------------
    def device(self) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def new_stream(self) -> FakeStream:
        self.n_streams += 1
        return FakeStream(self, f"s{self.n_streams - 1}")

    def activate(self) -> None:
        global _ACTIVE
        _ACTIVE = self  # device arrays made from now on charge this fake's clock and pool

    def current_stream(self) -> FakeStream:
        self.activate()  # the executor asks first thing in every run
        return self.current

    def new_event(self, timing: bool = True) -> FakeEvent:
        self.n_events += 1
        return FakeEvent(self, f"e{self.n_events - 1}", timing)

    def elapsed_ns(self, start: FakeEvent, end: FakeEvent) -> int:
        assert start.timing and end.timing, "elapsed time between events made with timing disabled"
        assert start.stream is not None and end.stream is not None, "elapsed time of an event never recorded"
        return end.time - start.time

    def pool_bytes(self) -> tuple[int, int]:
        return self.pool.used, self.pool.total

    def is_device_array(self, value: Any) -> bool:
        return isinstance(value, DeviceArray)

    def array_types(self) -> tuple[type, ...]:
        return (np.ndarray, DeviceArray)

    def upload(self, value: Any) -> DeviceArray:
        if isinstance(value, DeviceArray):
            return value
        a = np.asarray(value)
        self.log.append(("upload", a.nbytes, self.current.name))
        self.charge(COPY_NS + a.nbytes)
        return _owning(a)

    def download(self, value: Any) -> np.ndarray:
        if not isinstance(value, DeviceArray):
            return np.asarray(value)
        self.log.append(("download", value.nbytes, self.current.name))
        self.charge(COPY_NS + value.nbytes)
        return value.get()

    def synchronize(self) -> None:
        self.syncs += 1
        self.log.append(("synchronize",))

    def compile(self, kernel: Any) -> Any:
        return host_launcher(kernel.host_source, kernel.name)

    def info(self) -> dict[str, Any]:
        return {"backend": "cupy", "device": "fake GPU (NumPy)", "device_index": self.index}


# -- the generated kernels' host twins -----------------------------------------------------------

CXX = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
_CTYPES = {"int64": ctypes.c_longlong, "int32": ctypes.c_int, "int16": ctypes.c_short, "int8": ctypes.c_byte,
           "uint8": ctypes.c_ubyte, "bool": ctypes.c_bool, "float32": ctypes.c_float, "float64": ctypes.c_double}
_LIBS: dict[str, Any] = {}
_BUILD_DIR = tempfile.mkdtemp(prefix="gs-hostcc-")
atexit.register(shutil.rmtree, _BUILD_DIR, True)


def host_function(source: str, name: str) -> Any:
    """Compile C++ ``source`` (cached by content) and return its ``extern "C"`` function ``name``."""
    if CXX is None:
        raise RuntimeError("no C++ compiler (g++) to build the host twin of a generated kernel")
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    lib = _LIBS.get(digest)
    if lib is None:
        src = os.path.join(_BUILD_DIR, f"k{digest}.cpp")
        out = os.path.join(_BUILD_DIR, f"k{digest}.so")
        with open(src, "w") as f:
            f.write(source)
        # -ffp-contract=off: no fused multiply-add, as the CUDA build's --fmad=false.
        proc = subprocess.run([CXX, "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", out, src],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"host compile failed: {proc.stderr.strip()[:2000]}")
        lib = _LIBS[digest] = ctypes.CDLL(out)
    fn = getattr(lib, name)
    fn.restype = None
    return fn


def host_launcher(source: str, name: str) -> Any:
    """A callable with RawKernel's calling convention ``f(grid, block, args)`` running the host twin."""
    fn = host_function(source, name)

    def launch(grid: tuple, block: tuple, args: tuple) -> None:
        cargs = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, "kernels read C-contiguous buffers"
                cargs.append(ctypes.c_void_p(a.ctypes.data))
            else:
                cargs.append(_CTYPES[np.asarray(a).dtype.name](a.item() if isinstance(a, np.generic) else a))
        fn(*cargs)

    return launch
