"""Reusable layout pieces of the dashboard (cards, tables, the node-details panel, the graph view)."""
