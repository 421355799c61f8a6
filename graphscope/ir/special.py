"""Special functions (erf ...) that NumPy lacks, looked up for the array module in use."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def special(xp: ModuleType, name: str) -> Callable:
    """``special(np, "erf")`` is scipy.special.erf; ``special(cupy, "erf")`` is cupyx.scipy.special.erf."""
    if xp.__name__ == "numpy":
        import scipy.special as mod
    elif xp.__name__ == "cupy":
        import cupyx.scipy.special as mod  # type: ignore[import-not-found]
    else:
        raise ValueError(f"no special functions known for array module {xp.__name__}")
    return getattr(mod, name)
