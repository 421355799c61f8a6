"""One observed run: a plan executed with the debugging options (check_numerics, capture, value summaries).

``gs.run`` calls :func:`observe_run` when any of the options is on; it runs the plan once through
``execute_observed`` (sequentially, also for ``parallel=True``), with a :class:`RunObserver` that
does per node only what was asked, decided once per step before the loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphscope.debug.numerics import FUSED_OPS, localize_in_fused, node_error, value_error
from graphscope.debug.summaries import summarize
from graphscope.ir.ops import VIEW, ops_in
from graphscope.profile.events import ValueSummary
from graphscope.runtime.interpreter import execute_observed
from graphscope.runtime.plan import Plan


@dataclass
class ObservedRun:
    outputs: list[Any]
    captured: dict[str, np.ndarray] = field(default_factory=dict)  # node name -> a copy of its value
    value_summaries: dict[int, ValueSummary] = field(default_factory=dict)  # node id -> summary
    stats: dict[str, Any] = field(default_factory=dict)  # what the observer did, and the run's wall time


class RunObserver:
    def __init__(self, plan: Plan, *, check_numerics: bool, capture_ids: set[int], summaries: bool) -> None:
        self.plan = plan
        self.to_numpy = plan.backend.to_numpy
        self.isfinite = plan.backend.xp.isfinite
        views = ops_in(VIEW)
        steps = plan.steps
        # A view holds values already checked; ints and bools cannot be non-finite.
        self.check = [check_numerics and s.node.spec.dtype.kind in "fc" and s.node.op not in views for s in steps]
        self.capture = [s.node.id in capture_ids for s in steps]
        self.check_numerics = check_numerics
        self.capture_ids = capture_ids
        self.summaries = summaries
        self.captured: dict[str, np.ndarray] = {}
        self.value_summaries: dict[int, ValueSummary] = {}

    def _keep(self, node: Any, value: Any) -> None:
        self.captured[node.name] = np.array(self.to_numpy(value), copy=True)  # the arena may reuse the buffer later

    def begin(self, slots: list[Any]) -> None:
        plan = self.plan
        cache = plan.__dict__.setdefault("_debug_constants", {})  # constants never change: check/summarize once
        for s, node in enumerate(plan.node_of_slot):
            v = slots[s] if s < len(slots) else None
            if node.op == "placeholder":
                if self.check_numerics and not bool(self.isfinite(v).all()):
                    raise value_error(node, self.to_numpy(v), "graph input")
                if self.summaries:
                    self.value_summaries[node.id] = summarize(self.to_numpy(v))
            elif node.op == "constant":
                if self.check_numerics:
                    ok = cache.get(("finite", node.id))
                    if ok is None:
                        ok = cache[("finite", node.id)] = bool(np.isfinite(node.value).all()) if node.dtype.kind in "fc" else True
                    if not ok:
                        raise value_error(node, node.value, "constant")
                if self.summaries:
                    if ("summary", node.id) not in cache:
                        cache[("summary", node.id)] = summarize(node.value)
                    self.value_summaries[node.id] = cache[("summary", node.id)]
            else:
                continue
            if node.id in self.capture_ids:
                self._keep(node, v)

    def after(self, k: int, value: Any, slots: list[Any]) -> None:
        if self.check[k] and not self.isfinite(value).all():
            raise self._error(k, value, slots)
        if self.capture[k]:
            self._keep(self.plan.steps[k].node, value)
        if self.summaries:
            self.value_summaries[self.plan.steps[k].node.id] = summarize(self.to_numpy(value))

    def _error(self, k: int, value: Any, slots: list[Any]) -> Exception:
        step = self.plan.steps[k]
        node = step.node
        args = [self.to_numpy(slots[a]) for a in step.args[:len(node.inputs)]]  # an arena buffer slot comes last
        culprit = localize_in_fused(self.plan.graph, node, args) if node.op in FUSED_OPS else None
        labels = [f"%{i.id} '{i.name}'" for i in node.inputs]
        return node_error(node, self.to_numpy(value), list(zip(labels, args)), culprit)


def observe_run(plan: Plan, inputs: list[Any], *, check_numerics: bool = False, capture_ids: set[int] | None = None,
                value_summaries: bool = False) -> ObservedRun:
    """Run ``plan`` once with the observer; raises NumericsError at the first non-finite value when checking."""
    obs = RunObserver(plan, check_numerics=check_numerics, capture_ids=set(capture_ids or ()), summaries=value_summaries)
    t0 = time.perf_counter_ns()
    if check_numerics:  # the NumericsError says more than NumPy's "invalid value encountered" warning
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            outputs = execute_observed(plan, inputs, obs)
    else:
        outputs = execute_observed(plan, inputs, obs)
    plan.backend.synchronize()
    wall = time.perf_counter_ns() - t0
    stats = {"observed_run_ns": wall, "check_numerics": check_numerics, "checked_nodes": sum(obs.check),
             "captured": len(obs.captured), "value_summaries": value_summaries,
             "sequential": True}
    return ObservedRun(outputs, obs.captured, obs.value_summaries, stats)


__all__ = ["ObservedRun", "RunObserver", "observe_run"]
