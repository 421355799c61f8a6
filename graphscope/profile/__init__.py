"""Recorded runs: events, RunProfile and (later) their analysis."""

from graphscope.profile.events import NodeEvent, NodeInfo, RunProfile

__all__ = ["NodeEvent", "NodeInfo", "RunProfile"]
