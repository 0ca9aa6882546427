"""The viewer export on a tiny store: every panel's numbers against a direct computation,
the shared board table against the rules and the solver, the folder swapped in whole, and
one-line errors for a dictionary without a matching store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sae.activations.collect as acts_mod
from alphazero.model import AlphaZeroNet, NetConfig, load_agent, save_agent
from othello import batch
from othello.game import Position
from othello.solver import best_moves
from sae.activations.batches import Pairs
from sae.dictionary.model import DictConfig, Dictionary, load_dictionary, save_dictionary
from sae.dictionary.train import RunSpec, TrainConfig, train
from transcoder.set import load_transcoder_set, write_set_config
from transcoder.virtual_weights import top_connections
from vis.export import ExportConfig, ExportError, export, main

SITE = "blocks.1.resid_post"
XSS = '<img src=x onerror="window.__xss = 1">'
RUN = "topk_k4_n64"


def _concepts_report(n_latents: int, path: Path) -> None:
    """A concepts report of the contracted schema (docs/concepts_report.md), by hand: latent
    i is labelled threat_defensive@c3 when i is even, the XSS label when i == 1."""
    latents = {}
    for i in range(n_latents):
        label = XSS if i == 1 else "threat_defensive@c3" if i % 2 == 0 else "stable_mine@a1"
        latents[str(i)] = {
            "density": 0.1,
            "label": label,
            "auc": 0.9 - i / 1000,
            "precision": 0.8,
            "recall": 0.7,
            "f1": 0.75,
            "threshold": 0.5,
            "top_concepts": [[label, 0.9 - i / 1000], ["mobility_mine>=5", 0.6]],
        }
    report = {
        "schema_version": 1,
        "kind": "concepts_report",
        "dictionary": {
            "path": "x",
            "site": SITE,
            "architecture": "topk",
            "n_latents": n_latents,
            "k": 4,
            "l1_coeff": None,
        },
        "store": {"path": "s", "hash": "h"},
        "positions": {"auc": 100, "solver": 10},
        "families": {
            "threat_defensive": {
                "best_auc": 0.9,
                "best_latent": 0,
                "best_concept": "threat_defensive@c3",
                "concepts": 36,
            }
        },
        "concepts": {},
        "latents": latents,
        "explained_fraction": 0.5,
        "explained_f1": 0.7,
        "coverage": {"board": 0.4, "legal": 0.3},
        "reconstruction": {"board": 0.2, "legal": 0.1},
    }
    path.write_text(json.dumps(report))


def _explanations_report(n_latents: int, path: Path) -> None:
    """A held-out explanations report of the contracted schema (docs/explanations.md), by hand:
    even latents are explained by threat_defensive@c3, latent 1 by the XSS program, the other
    odd ones are unexplained with the guess stable_mine@a1 (held-out F1 0.4)."""
    latents = {}
    for i in range(n_latents):
        explained = i % 2 == 0 or i == 1
        program = XSS if i == 1 else "threat_defensive@c3" if i % 2 == 0 else "stable_mine@a1"
        f1 = [0.9, 0.8, 0.95] if explained else [0.4, 0.3, 0.5]
        latents[str(i)] = {
            "rate": 0.1,
            "explained": explained,
            "judged": True,
            "program": program,
            "literals": 1,
            "scope": "all",
            "scope_text": "all positions",
            "precision": f1,
            "recall": f1,
            "f1": f1,
            "fit_f1": f1[0],
            "r2": 0.5,
            "support": {"fires": 40, "silent": 60, "holds": 45, "fails": 55, "rows": 100},
            "does": "promotes c4 +1.0 pp",
        }
    report = {
        "schema_version": 1,
        "kind": "explanations",
        "dictionary": {"n_latents": n_latents},
        "summary": {"live": n_latents, "explained": n_latents // 2 + 1},
        "rule": {"explained": "judged and F1 low >= 0.7", "min_support": 25, "interval": "95%"},
        "latents": latents,
    }
    path.write_text(json.dumps(report))


def _graph(path: Path) -> None:
    """An attribution graph in circuit-tracer's schema over the tiny transcoder set, as its
    writer makes them (`feature` of a transcoder node: the Cantor pairing of layer and
    latent; null activations on inputs, errors and the target)."""

    def node(node_id, js, feature, layer, kind, influence, activation, **extra):
        return {
            "node_id": node_id,
            "jsNodeId": js,
            "feature": feature,
            "layer": layer,
            "ctx_idx": 0,
            "feature_type": kind,
            "influence": influence,
            "activation": activation,
            "token_prob": 0.0,
            "is_target_logit": False,
            "run_idx": 0,
            "reverse_ctx_idx": 0,
            "clerp": "",
            **extra,
        }

    tc = "cross layer transcoder"
    nodes = [
        node("E_0_0", "E_0-0", 0, "E", "embedding", 0.9, None),
        node("0_3_0", "0_3-0", 9, "0", tc, 0.6, 1.5),  # 9 = cantor(0, 3)
        node("1_5_0", "1_5-0", 26, "1", tc, 0.4, 0.7),  # 26 = cantor(1, 5)
        node("0_1_0", "1_0-0", -1, "1", "mlp reconstruction error", 0.1, None),
        node(
            "2_14_0",
            "L_14-0",
            14,
            "2",
            "logit",
            None,
            None,
            token_prob=0.6,
            is_target_logit=True,
            clerp='Output "c3" (p=0.600)',
        ),
    ]
    links = [
        {"source": "E_0_0", "target": "0_3_0", "weight": 0.8},
        {"source": "0_3_0", "target": "1_5_0", "weight": 0.5},
        {"source": "1_5_0", "target": "2_14_0", "weight": 0.9},
        {"source": "0_1_0", "target": "2_14_0", "weight": -0.2},
    ]
    graph = {
        "metadata": {
            "slug": "tiny-c3",
            "scan": "tiny",
            "transcoder_list": [],
            "prompt_tokens": ["mine@a1"],
            "prompt": "tiny",
            "node_threshold": 0.8,
            "schema_version": 1,
        },
        "qParams": {
            "pinnedIds": [],
            "supernodes": [],
            "linkType": "both",
            "clickedId": "",
            "sg_pos": "",
        },
        "nodes": nodes,
        "links": links,
        "scores": {"replacement": 0.7, "completeness": 0.9},
    }
    path.write_text(json.dumps(graph))


def build_inputs(root: Path) -> dict:
    """A tiny agent and store, a trained TopK SAE in a sweep folder (scaling.json, a concepts
    report), an untrained 2-block skip transcoder set and a graph file."""
    torch.manual_seed(0)
    agent = root / "agent"
    save_agent(AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval(), agent)
    sites = [SITE, "blocks.0.mlp_in", "blocks.1.mlp_in"]
    store = acts_mod.collect(
        f"{agent}.json",
        sites,
        900,
        root / "store",
        dtype="float32",
        games_per_chunk=8,
        progress=False,
        heldout_fraction=0.3,
        seed=0,
    )
    spec = RunSpec(RUN, DictConfig("topk", d_in=32, n_latents=64, k=4, in_site=SITE))
    cfg = TrainConfig(batch_size=128, steps=30, warmup_steps=5, progress=False)
    train([spec], Pairs.from_store(store, SITE), cfg, out_dir=root / "sweep")
    scaling = {
        RUN: {"architecture": "topk", "n_latents": 64, "k": 4, "l0": 4.0, "fvu": 0.31},
        "relu_l1_3_n64": {
            "architecture": "relu",
            "n_latents": 64,
            "k": None,
            "l0": 9.0,
            "fvu": 0.2,
        },
    }
    (root / "sweep" / "scaling.json").write_text(json.dumps(scaling))
    _concepts_report(64, root / "sweep" / RUN / "concepts.json")
    _explanations_report(64, root / "sweep" / RUN / "explanations.json")
    data = {"store": str(store.root), "checkpoint": store.manifest["checkpoint"]}
    for block in range(2):
        cfg_b = DictConfig(
            "topk",
            d_in=32,
            n_latents=48,
            k=4,
            in_site=f"blocks.{block}.mlp_in",
            out_site=f"blocks.{block}.mlp_out",
            skip=True,
        )
        tc = Dictionary(cfg_b)
        tc.set_scales(4.0, 2.0)
        save_dictionary(tc, root / "tc" / f"blocks.{block}" / "dictionary", data=data)
    write_set_config(root / "tc", 2, store.manifest["checkpoint"], {"path": str(store.root)})
    _graph(root / "graph.json")
    return {
        "store": store,
        "sae": root / "sweep" / RUN,
        "tc": root / "tc",
        "graph": root / "graph.json",
    }


FAST = ExportConfig(positions=500, effect_positions=8, graphs=2, progress=False)


def run_export(inputs: dict, out: Path, cfg: ExportConfig = FAST) -> dict:
    return export(
        [str(inputs["sae"]), str(inputs["tc"])], out, graph_files=[inputs["graph"]], cfg=cfg
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("vis_export")
    inputs = build_inputs(root)
    index = run_export(inputs, root / "data")
    return inputs, root / "data", index


def _read(folder: Path, rel: str):
    return json.loads((folder / rel).read_text())


def _latents(folder: Path, entry: dict) -> list[dict]:
    out = []
    for shard in range(-(-entry["width"] // entry["shard_size"])):
        out += _read(folder, f"{entry['folder']}/latents/{shard}.json")["latents"]
    return out


def _sample_acts(inputs, index, dictionary):
    """The export's sample rows, re-read and encoded directly."""
    store = inputs["store"]
    rows = np.sort(np.random.default_rng(0).permutation(store.rows("heldout"))[:500])
    assert index["store"]["rows"] == len(rows)
    x = torch.from_numpy(store.read(dictionary.cfg.in_site, rows))
    with torch.no_grad():
        return rows, dictionary.encode(x).numpy()


def test_index_lists_every_dictionary_with_metrics_and_plots(exported):
    inputs, folder, index = exported
    on_disk = _read(folder, "index.json")
    assert on_disk["schema_version"] == 1 and on_disk["kind"] == "vis_index"
    ids = [d["id"] for d in on_disk["dictionaries"]]
    assert ids == [RUN, "tc-blocks.0", "tc-blocks.1"]  # in command-line order
    sae = on_disk["dictionaries"][0]
    assert (sae["kind"], sae["site"], sae["width"], sae["k"]) == ("sae", SITE, 64, 4)
    assert sae["metrics"]["fvu"] == 0.31 and sae["sweep"] == "sweep" and sae["concepts"]
    sweep = on_disk["sweeps"][0]
    assert set(sweep["scaling"]) == {RUN, "relu_l1_3_n64"} and sweep["dictionaries"] == [RUN]
    tset = on_disk["transcoder_sets"][0]
    assert tset["layers"] == ["tc-blocks.0", "tc-blocks.1"]
    assert on_disk["dictionaries"][1]["kind"] == "transcoder"
    # the graph file given comes first, then the graphs built here
    assert tset["graphs"][0]["slug"] == "tiny-c3"
    assert tset["graphs"][0]["target"] == 'Output "c3" (p=0.600)'
    assert _read(folder, tset["graphs"][0]["file"])["links"][0]["weight"] == 0.8
    assert on_disk["notes"] == []
    assert len(tset["graphs"]) == 1 + FAST.graphs
    for rel, size in index["sizes"].items():
        assert (folder / rel).stat().st_size == size
    assert not list(folder.parent.glob(".data.tmp-*"))


def test_index_records_no_machine_paths(exported):
    """Paths of the sources are recorded relative to the repository, or not at all (these
    tiny inputs live outside it): nothing in index.json is an absolute path."""
    _, folder, _ = exported
    text = (folder / "index.json").read_text()
    index = json.loads(text)

    def strings(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                yield from strings(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from strings(v)
        elif isinstance(obj, str):
            yield obj

    assert not [s for s in strings(index) if s.startswith("/")]
    assert str(folder.parent) not in text
    assert index["store"]["path"] is None and index["dictionaries"][0]["path"] is None
    from vis.layout import repo_path

    assert repo_path(Path(__file__)) == "tests/test_vis_export.py"


def _sae(exported):
    """The SAE's exported latents, its dictionary and a direct encoding of the sample."""
    inputs, folder, index = exported
    entry = next(d for d in index["dictionaries"] if d["id"] == RUN)
    dictionary, _ = load_dictionary(inputs["sae"] / "dictionary")
    rows, f = _sample_acts(inputs, index, dictionary)
    return inputs, folder, entry, dictionary, rows, f, _latents(folder, entry)


def test_latent_statistics_match_a_direct_encoding(exported):
    inputs, folder, entry, dictionary, rows, f, latents = _sae(exported)
    boards = _read(folder, "boards.json")["boards"]
    summary = _read(folder, f"{entry['folder']}/summary.json")
    store = inputs["store"]
    me, opp = store.read("me", rows), store.read("opp", rows)
    black = store.read("black_to_move", rows)
    checked = 0
    for i, lat in enumerate(latents):
        assert lat["id"] == i
        on = f[:, i] > 0
        assert lat["density"] == pytest.approx(on.mean(), rel=1e-3)
        assert summary["columns"]["density"][i] == pytest.approx(on.mean(), rel=1e-3)
        if not on.any():
            assert "top" not in lat
            continue
        checked += 1
        assert lat["max"] == pytest.approx(f[on, i].max(), rel=1e-3)
        assert lat["mean"] == pytest.approx(f[on, i].mean(), rel=1e-3)
        assert sum(lat["hist"]) == on.sum()
        # the best example is the row of the highest activation, drawn as that position
        best = int(np.argmax(f[:, i]))
        board, act = lat["top"][0]
        assert act == pytest.approx(f[best, i], rel=1e-3)
        pos = Position(int(me[best]), int(opp[best]), bool(black[best]), 6)
        plain = boards[board][0].replace("+", "-").replace("*", "-")
        assert plain == pos.to_text()
        acts = [a for _, a in lat["top"]]
        assert acts == sorted(acts, reverse=True)
        assert len({b for b, _ in lat["top"]}) == len(lat["top"])  # distinct positions
        lows = [q[0] for q in lat["quantiles"]]
        assert lows == sorted(lows) and lat["quantiles"][-1][1] == pytest.approx(lat["max"])
        for lo, hi, examples in lat["quantiles"]:
            assert all(lo - 1e-3 <= a <= hi + 1e-3 for _, a in examples)
    assert checked > 10
    # concepts from concepts.json, the XSS label kept verbatim (the page must show it as text)
    assert latents[1]["concepts"]["explanation"]["label"] == XSS
    assert summary["columns"]["label"][0] == "threat_defensive@c3"
    assert summary["concepts"]["coverage"] == {"board": 0.4, "legal": 0.3}


def test_related_latents_and_effects_match_brute_force(exported):
    inputs, folder, _, dictionary, _, f, latents = _sae(exported)
    w = torch.nn.functional.normalize(dictionary.W_dec.detach(), dim=1)
    cos = (w @ w.T).numpy()
    on = f > 0
    i = int(np.argmax(on.sum(0)))
    cos[i, i] = -np.inf
    assert latents[i]["similar"][0][0] == int(np.argmax(cos[i]))
    assert latents[i]["similar"][0][1] == pytest.approx(cos[i].max(), abs=1e-3)
    both = (on[:, [i]] & on).sum(0)
    jac = both / (on[:, i].sum() + on.sum(0) - both)
    jac[i] = -1
    assert latents[i]["cofiring"][0][1] == pytest.approx(jac.max(), rel=1e-3)
    assert jac[latents[i]["cofiring"][0][0]] == pytest.approx(jac.max(), rel=1e-3)
    # effect: adding strength * decoder row at the site, on the export's effect positions

    net, _ = load_agent(inputs["store"].manifest["checkpoint"]["path"])
    boards = _read(folder, "boards.json")["boards"]
    lat = latents[i]
    strength = np.mean([a for _, a in lat["top"]])
    assert lat["effect"]["strength"] == pytest.approx(strength, rel=1e-3)
    # the effect positions are not in the files; check the direction's effect on one board
    pos = Position.from_text(boards[lat["top"][0][0]][0].replace("+", "-").replace("*", "-"))
    x, legal = net.encode(np.array([pos.me], np.uint64), np.array([pos.opp], np.uint64))
    delta = strength * dictionary.W_dec[i].detach() / dictionary.out_scale
    with torch.no_grad():
        clean = torch.softmax(net(x, legal).policy_logits, -1)
        edited = net.run_with_hooks(x, legal, {SITE: lambda t: t + delta})
    from sae.explain.effects import decoder_effects

    me, opp = np.array([pos.me], np.uint64), np.array([pos.opp], np.uint64)
    strengths = np.zeros(64)
    strengths[i] = strength
    got = decoder_effects(net, dictionary, me, opp, strengths, progress=False)
    want = (torch.softmax(edited.policy_logits, -1) - clean)[0].numpy()
    assert np.allclose(got["policy"][i], want, atol=1e-5)
    assert not got["policy"][(i + 1) % 64].any()  # a latent with no strength: no effect
    assert got["tv"][i] == pytest.approx(0.5 * np.abs(want).sum(), abs=1e-5)
    assert len(lat["effect"]["policy"]) == 37


def test_boards_mark_legal_moves_solver_moves_and_agent_move(exported):
    inputs, folder, _ = exported
    boards = _read(folder, "boards.json")["boards"]
    assert len({b[0] for b in boards}) == len(boards)  # deduplicated
    solved = 0
    for text, agent, value in boards:
        pos = Position.from_text(text.replace("+", "-").replace("*", "-"))
        legal = [i for i, c in enumerate(text[:36]) if c in "+*"]
        assert legal == [a for a in pos.legal_actions() if a < 36]
        assert agent in pos.legal_actions()
        if pos.empties() <= 14:
            solved += 1
            v, best = best_moves(pos)
            assert value == v
            assert [i for i, c in enumerate(text[:36]) if c == "*"] == [a for a in best if a < 36]
        else:
            assert value is None and "*" not in text
    assert solved > 0
    me = np.array([Position.from_text(boards[0][0].replace("+", "-").replace("*", "-")).me])
    assert batch.popcount(me)[0] == sum(
        c == ("X" if boards[0][0].endswith("X") else "O") for c in boards[0][0][:36]
    )


def test_cli_errors_are_one_line_and_leave_the_folder(exported, tmp_path, capsys):
    inputs, folder, _ = exported
    out = tmp_path / "data"
    out.mkdir()
    (out / "index.json").write_text("{}")
    # a dictionary reading a site the store lacks
    d = Dictionary(DictConfig("topk", d_in=32, n_latents=8, k=2, in_site="blocks.0.resid_post"))
    data = {"store": str(inputs["store"].root)}
    save_dictionary(d, tmp_path / "bad" / "dictionary", data=data)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "bad"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert e.value.code.startswith("error: ") and "no activations at blocks.0.resid_post" in str(
        e.value.code
    )
    assert "Traceback" not in err
    # a dictionary trained on another agent's activations
    other = {"store": str(inputs["store"].root), "checkpoint": {"path": "a", "sha256": "0" * 16}}
    d2 = Dictionary(DictConfig("topk", d_in=32, n_latents=8, k=2, in_site=SITE))
    save_dictionary(d2, tmp_path / "other" / "dictionary", data=other)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "other"), "--out", str(out), "--quiet"])
    assert "trained on activations of agent a" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "nothing"), "--out", str(out), "--quiet"])
    assert "no dictionary here" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        main([str(inputs["sae"]), "--positions", "0"])
    assert e.value.code == 2
    assert (out / "index.json").read_text() == "{}"  # untouched


def test_a_failed_export_leaves_the_previous_folder_whole(exported, tmp_path, monkeypatch):
    inputs, folder, _ = exported
    out = tmp_path / "data"
    killed = tmp_path / ".data.tmp-999999999"  # an earlier export killed mid-way
    (killed / "dicts").mkdir(parents=True)
    export([str(inputs["sae"])], out, cfg=FAST)
    assert not killed.exists()
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    import vis.export as ex

    def boom(self, *a, **k):
        raise KeyboardInterrupt  # as a Ctrl-C while the boards are written

    monkeypatch.setattr(ex.Exporter, "finish", boom)
    with pytest.raises(KeyboardInterrupt):
        export([str(inputs["sae"]), str(inputs["tc"])], out, cfg=FAST)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and not list(tmp_path.glob(".data.tmp-*"))


def test_export_refuses_graphs_without_a_transcoder_set(exported, tmp_path):
    inputs, _, _ = exported
    with pytest.raises(ExportError, match="needs a transcoder set"):
        export([str(inputs["sae"])], tmp_path / "d", graph_files=[inputs["graph"]], cfg=FAST)


def test_circuit_panels_from_the_transcoder_modules(exported, tmp_path):
    """A complete transcoder set exported alone: its virtual-weight neighbours are those
    `top_connections` gives (ids in place of blocks), and each attribution graph is the
    agent's move on the sampled board it names."""
    inputs, _, _ = exported
    out = tmp_path / "data"
    index = export([str(inputs["tc"])], out, cfg=FAST)
    assert index["notes"] == []
    tset = load_transcoder_set(inputs["tc"])
    net, _ = load_agent(inputs["store"].manifest["checkpoint"]["path"])
    with torch.no_grad():
        top = top_connections(net, tset.layers, k=FAST.related)
    ids = ["tc-blocks.0", "tc-blocks.1"]
    for block, entry in enumerate(index["dictionaries"]):
        latents = _latents(out, entry)
        for latent, sides in top[block].items():
            for side in ("upstream", "downstream"):
                want = [[ids[b], j, w] for b, j, w in sides.get(side, [])]
                got = latents[latent].get(side, [])
                assert [g[:2] for g in got] == [w[:2] for w in want]
                assert np.allclose([g[2] for g in got], [w[2] for w in want], atol=1e-3)
    assert latents[0]["upstream"] and not latents[0].get("downstream")  # the last block
    graphs = index["transcoder_sets"][0]["graphs"]
    boards = _read(out, "boards.json")["boards"]
    assert len(graphs) == FAST.graphs
    for g in graphs:  # each graph names the board of the position it was built on
        graph = _read(out, g["file"])
        marked = boards[g["board"]][0]
        pos = Position.from_text(marked.replace("+", "-").replace("*", "-"))
        assert g["prompt"] == graph["metadata"]["prompt"]
        drawn = Position.from_text(g["prompt"])  # drawn with the side to move as X
        assert (drawn.me, drawn.opp) == (pos.me, pos.opp)
        targets = [n for n in graph["nodes"] if n.get("is_target_logit")]
        assert len(targets) == 1 and g["scores"]["replacement"] > 0
