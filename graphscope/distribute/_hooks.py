"""``strategy.scope()``: route ``@gs.function`` calls made in this thread to the innermost strategy.

The first ``scope()`` sets ``graphscope.trace.function.call_hook`` (once, for the process); the hook
checks a thread-local stack of strategies and lets the call run as usual when the stack is empty or
while a strategy is itself running (the trace module already skips it while a trace is in progress,
where a nested call inlines into the outer graph).
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()
_lock = threading.Lock()
_installed = False


def _stack() -> list[Any]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current_strategy() -> Any:
    stack = _stack()
    return stack[-1] if stack else None


def push(strategy: Any) -> None:
    _stack().append(strategy)


def pop(strategy: Any) -> None:
    stack = _stack()
    if stack and stack[-1] is strategy:
        stack.pop()
    elif strategy in stack:
        stack.remove(strategy)


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from graphscope.trace import function as fmod

        fmod.call_hook = _route
        _installed = True


def _route(function: Any, args: tuple, kwargs: dict, bound_self: bool) -> Any:
    """Run the call on the innermost strategy of this thread (NotImplemented: none, or it is already running)."""
    strategy = current_strategy()
    if strategy is None or getattr(_local, "busy", False):
        return NotImplemented
    _local.busy = True
    try:
        return strategy._call_function(function, args, kwargs, bound_self)
    finally:
        _local.busy = False
