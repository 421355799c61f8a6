"""Graphviz renderings: clusters by scope, colours from a profile, collapsing, before/after marks, stages,
real SVG/PNG output, and a 5,000-node graph in well under 10 s."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from viz_helpers import big_graph, needs_dot, sample_run, two_lane_profile

import graphscope as gs
from graphscope import samples
from graphscope.formats import get_format, save_any
from graphscope.ir.graph import Graph
from graphscope.ir.spec import TensorSpec
from graphscope.viz import dot

SVG = "{http://www.w3.org/2000/svg}"


def svg_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return root


def node_titles(root: ET.Element) -> list[str]:
    return [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


def test_clusters_by_scope_and_labels_with_op_and_shape(transformer_run):
    r = dot.to_dot(transformer_run.graph)
    src = r.source
    assert src.startswith('digraph "transformer"') and r.boxes == len(transformer_run.graph) == r.nodes_total
    assert src.count("subgraph cluster_") == len({n.scope for n in transformer_run.graph.nodes if n.scope}) + 2  # + attn, ffn
    qkv = src.index('tooltip="attn/qkv"')
    assert src.index('label="attn"') < qkv  # attn/qkv nests inside attn
    matmul = next(n for n in transformer_run.graph.nodes if n.op == "matmul")
    line = next(ln for ln in src.splitlines() if ln.strip().startswith(f"n{matmul.id} "))
    assert f"matmul f32[{','.join(map(str, matmul.spec.shape))}]" in line and "models.py:" in line  # label, tooltip
    assert "peripheries" in src  # outputs are marked
    assert "colour" not in src  # no profile: no fill by time


def test_colour_by_time_and_memory_from_a_profile(lanes_profile):
    r = dot.to_dot(lanes_profile)  # a profile renders its own graph, coloured by time
    lines = {m.group(1): m.group(0) for m in re.finditer(r"^\s*(n\d+) \[.*$", r.source, re.M)}
    assert 'fillcolor="#800026"' in lines["n1"]  # the slowest node has the darkest fill
    assert "%" in lines["n1"] and "µs" in lines["n1"]
    assert "colour: share of node time" in r.source
    mem = dot.to_dot(lanes_profile, color="memory")
    assert "of peak" in mem.source and "bytes allocated" in mem.source
    none = dot.to_dot(lanes_profile, color="none")
    assert "colour:" not in none.source
    with pytest.raises(ValueError, match="color must be"):
        dot.to_dot(lanes_profile, color="rainbow")


def test_weights_match_nodes_by_id_and_name():
    prof = two_lane_profile()
    w = dot.weights(prof, "time")
    g = dot.view(prof)
    node = next(n for n in g.nodes if n.id == 1)
    assert w.get(node) == w.by_id[1]
    renamed = dot.VNode(99, node.name, node.op, node.scope, node.shape, node.dtype, node.inputs)
    assert w.get(renamed) == w.by_id[1]  # another graph's id, the same name
    other = dot.VNode(1, "something else", "add", "", (), "float32", ())
    assert w.get(other) is None


def test_collapse_by_scope_depth(transformer_run, mlp_run):
    prof = transformer_run.profile
    r1 = dot.to_dot(prof, collapse_depth=1)
    assert r1.collapse_depth == 1
    boxes = re.findall(r'shape="box3d".*?label="([^"]*)"', r1.source)
    heads = sorted(b.split("\\n")[0] for b in boxes)
    assert heads == ["attn", "ffn"]
    attn = next(b for b in boxes if b.startswith("attn"))
    n_attn = sum(1 for n in prof.nodes.values() if n.scope.split("/")[0] == "attn")
    assert f"{n_attn} nodes" in attn and re.search(r"\d (s|ms|µs) · \d+\.\d%", attn)  # node count and summed time
    r2 = dot.to_dot(prof, collapse_depth=2)
    assert r1.boxes < r2.boxes < len(prof.nodes)
    assert "attn/qkv" in r2.source and 'label="attn' in r2.source  # depth-2 boxes inside the attn cluster
    with pytest.raises(ValueError, match="at least 1"):
        dot.to_dot(prof, collapse_depth=0)


def test_automatic_collapse_and_chain_merging():
    g = big_graph(2000, blocks=10, parts=4)
    r = dot.to_dot(g, max_nodes=100)
    assert r.collapse_depth == 2 and r.boxes == 41 and r.notes  # 40 sub-scopes + the input
    r = dot.to_dot(g, max_nodes=20)
    assert r.collapse_depth == 1 and r.boxes == 11
    flat = Graph("flat")
    cur = flat.placeholder("x", TensorSpec((2,), np.float32))
    for _ in range(300):
        cur = flat.add_node("tanh", [cur])
    flat.set_outputs([cur])
    r = dot.to_dot(flat, max_nodes=50)
    assert r.chains_merged and r.boxes == 1 and "chain of 301 nodes" in r.source
    assert dot.to_dot(flat, max_nodes=None).boxes == 301


def test_diff_marks_removed_merged_rewritten_and_fused():
    run = sample_run("transformer")
    marks = dot.diff_marks(dot.view(run.graph), dot.view(run.optimized), run.log.to_list())
    kinds = {k for k, _ in marks.before.values()}
    assert {"removed", "merged", "rewritten", "fused"} <= kinds
    after_ids = {n.id for n in run.optimized.nodes}
    absorbed = 0
    for p in run.log.passes:
        for dup, kept in p.merged:
            assert marks.before[dup] == ("merged", f"merged into %{kept}")
        for ids, into in p.fused:
            if into not in after_ids:  # fused again by a later pass (elementwise group -> product epilogue)
                absorbed += 1
                continue
            assert marks.after[into][0] == "fused"
            color = marks.group_color[("a", into)]
            before_ids = {n.id for n in run.graph.nodes}
            assert all(marks.group_color[("b", i)] == color for i in ids if i in before_ids and i not in after_ids)
    assert absorbed > 0  # the transformer's GELU/bias groups end in its products' epilogues
    # Every fused-away original names a node that exists after optimization.
    for kind, text in marks.before.values():
        if kind == "fused":
            assert int(text.rsplit("%", 1)[1]) in after_ids, text
    r = dot.diff_dot(run.graph, run.optimized, pass_log=run.log, profile=run.profile)
    assert "cluster_bside" in r.source and "cluster_aside" in r.source
    assert 'style="rounded,filled,dashed"' in r.source  # removed nodes are dashed
    assert "fused into %" in r.source and "merged into %" in r.source
    assert r.nodes_total == len(run.graph) + len(run.optimized) and "->" in r.summary


def test_diff_uses_the_optimized_graphs_own_pass_log():
    run = sample_run("redundant")
    a = dot.diff_dot(run.graph, run.optimized)
    b = dot.diff_dot(run.graph, run.optimized, pass_log=run.log)
    assert a.source == b.source


def test_stages_step_through_the_pipeline():
    from graphscope.passes.pipeline import LEVELS

    graph, _ = samples.build("redundant")
    stages = dot.stage_graphs(graph, level=2)
    assert [name for name, _, _ in stages] == ["original", *LEVELS[2]]
    final, _ = gs.optimize(graph, level=2)
    assert len(stages[-1][1]) == len(final)
    renders = dot.stage_renderings(graph, level=1, color="none")
    assert [n for n, _ in renders] == ["original", *LEVELS[1]]
    assert "cluster_bside" not in renders[0][1].source and all("cluster_bside" in r.source for _, r in renders[1:])
    assert "pass 1 of 4" in renders[1][1].source


@needs_dot
@pytest.mark.parametrize("name", samples.names())
def test_every_sample_renders_to_valid_svg(name, tmp_path):
    graph, _ = samples.build(name)
    path = tmp_path / f"{name}.svg"
    save_any(dot.to_dot(graph), path)  # the registry picks the format by suffix
    root = svg_root(path.read_bytes())
    assert len(node_titles(root)) == len(graph)


@needs_dot
def test_png_and_dot_outputs(lanes_profile, tmp_path):
    r = dot.to_dot(lanes_profile)
    dot.save_rendering(r, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot.save_rendering(r, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == r.source
    assert {get_format(n).kind for n in ("svg", "png", "dot")} == {"rendering"}
    with pytest.raises(TypeError, match="Rendering"):
        dot.save_rendering(lanes_profile, tmp_path / "x.svg")


@needs_dot
def test_names_that_need_escaping(tmp_path):
    g = Graph('we"ird')
    x = g.placeholder('in"put\\x', TensorSpec((2,), np.float32))
    y = g.add_node("tanh", [x], name='a "quoted" {name} <b>', scope='sc"ope/with\\slash')
    g.set_outputs([y])
    root = svg_root(dot.render_bytes(dot.to_dot(g), "svg", cache=False))
    text = "".join(root.itertext())
    assert 'a "quoted" {name} <b>' in text and 'in"put\\x' in text


@needs_dot
def test_layouts_are_cached(lanes_profile, monkeypatch):
    import graphviz

    r = dot.to_dot(lanes_profile, title="cache test")
    first = dot.render_bytes(r, "svg")
    dot._memory_cache.clear()  # the disk cache still has it
    monkeypatch.setattr(graphviz, "pipe", lambda *a, **k: pytest.fail("laid out again"))
    assert dot.render_bytes(r, "svg") == first


def test_missing_graphviz_is_a_clear_error(lanes_profile, monkeypatch):
    import graphviz

    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz, "pipe", missing)
    with pytest.raises(dot.GraphvizError, match="apt-get install graphviz"):
        dot.render_bytes(dot.to_dot(lanes_profile, title="never cached"), "svg", cache=False)


@needs_dot
def test_five_thousand_nodes_render_in_under_ten_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path / "fresh-cache"))  # no cached layout
    g = big_graph(5000)
    prof = gs.run(g, [np.ones((4, 8), np.float32)], profile=True, repeat=1).profile
    timings = {}
    for depth in (1, 2, None):  # None: automatic
        t0 = time.perf_counter()
        r = dot.to_dot(g, profile=prof, collapse_depth=depth)
        data = dot.render_bytes(r, "svg", cache=False)
        timings[depth] = time.perf_counter() - t0
        root = svg_root(data)
        assert len(node_titles(root)) == r.boxes
    assert max(timings.values()) < 10.0, timings
    assert r.collapse_depth == 2 and r.boxes == 251


# ---------------------------------------------------------------------------------------------
# Scopes opened one by one (``expanded``) and click targets (the dashboard's graph view)


def test_expanded_scopes_are_drawn_open_and_every_other_scope_is_one_box(transformer_run):
    g = transformer_run.graph
    paths = dot.scope_paths(g)
    assert paths[:2] == ["attn", "ffn"] and "attn/qkv" in paths  # parents first
    assert dot.expanded_for_depth(g, 1) == set() and dot.expanded_for_depth(g, None) == set(paths)
    assert dot.expanded_for_depth(g, 2) == {"attn", "ffn"}
    r = dot.to_dot(g, expanded={"attn"})  # attn open (its sub-scopes closed), ffn closed
    scopes = {t["path"]: t for t in r.targets.values() if t["kind"] == "scope"}
    subs = {n.scope.split("/")[1] for n in g.nodes if n.scope.startswith("attn/")}
    assert set(scopes) == {"ffn"} | {f"attn/{s}" for s in subs}
    assert sorted(scopes["ffn"]["ids"]) == sorted(n.id for n in g.nodes if n.scope.startswith("ffn"))
    assert {t["path"] for t in r.targets.values() if t["kind"] == "cluster"} == {"attn"}
    assert f"{len(scopes)} scopes collapsed" in r.source
    # the same drawing as collapse_depth=2 (no scope left open there either)
    assert dot.to_dot(g, expanded=dot.expanded_for_depth(g, 2)).boxes == dot.to_dot(g, collapse_depth=2).boxes


@needs_dot
def test_targets_name_every_svg_element_of_a_diff(transformer_run):
    r = dot.diff_dot(transformer_run.graph, transformer_run.optimized, expanded=set(dot.scope_paths(transformer_run.graph)))
    root = svg_root(dot.render_bytes(r, "svg"))
    titles = {g.find(f"{SVG}title").text: g.get("class") for g in root.iter(f"{SVG}g") if g.get("class") in ("node", "cluster")}
    assert set(r.targets) == {t for t in titles if not t.endswith("side")}  # all but the two side frames
    for dom_id, t in r.targets.items():
        assert titles[dom_id] == ("cluster" if t["kind"] == "cluster" else "node")
    ids = {t["side"]: set() for t in r.targets.values()}
    for t in r.targets.values():
        if t["kind"] == "node":
            ids[t["side"]].add(t["id"])
    assert ids["b"] == {n.id for n in transformer_run.graph.nodes}
    assert ids["a"] == {n.id for n in transformer_run.optimized.nodes}
