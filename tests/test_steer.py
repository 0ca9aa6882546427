"""Steering: the edit algebra keeps the error term (SAE and skip transcoder), the controls,
the steered net is what MCTS and the players evaluate, the player spec and its one-line
errors, non-finite policies fail loudly, the threat geometry against the single-position
rules, and the measurement command end to end on a tiny store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from alphazero.agent import AlphaZeroPlayer
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from othello import bitboard as bb
from othello.arena import play_match
from othello.players import make_player
from sae.activations.collect import file_hash
from sae.dictionary.model import DictConfig, Dictionary, save_dictionary
from sae.steering.edit import (
    Edit,
    SteeringError,
    random_direction,
    steered_player,
    steering_delta,
    steering_hooks,
)
from sae.steering.effect import paired_interval
from sae.steering.player import parse_steer
from sae.steering.threats import protected, resolving_moves, threatened
from tests.engine_helpers import as_arrays, random_positions

SITE = "blocks.1.resid_post"


def _dictionary(in_site, out_site=None, d=32, n=48, k=6, skip=False, seed=0):
    torch.manual_seed(seed)
    cfg = DictConfig("topk", d, n, k, in_site=in_site, out_site=out_site, skip=skip)
    dictionary = Dictionary(cfg)
    with torch.no_grad():
        dictionary.b_enc.normal_(0, 0.3)
        dictionary.b_dec.normal_(0, 0.3)
        if skip:
            dictionary.W_skip.normal_(0, 0.1)
    dictionary.set_scales(4.0, 3.0)
    return dictionary.eval()


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()
    me, opp = as_arrays([p for p in random_positions(6, 120, 1) if not p.is_terminal()])
    return net, me, opp


def _capture(net, x, legal, hooks, site):
    seen = {}
    with torch.no_grad():
        net.run_with_hooks(x, legal, {**hooks, site: lambda t: seen.update(t=t)})
    return seen["t"]


def test_edits_change_only_the_edited_latents_share_and_keep_the_error(setup):
    net, me, opp = setup
    x, legal = net.encode(me, opp)
    d = _dictionary(SITE)
    with torch.no_grad():
        _, cache = net.run_with_cache(x, legal, [SITE])
        act = cache[SITE]
        f = d.encode(act)
        clean = net(x, legal)
    # the clean net, exactly: scale by 1, add 0, an edit of latents that never fire
    dead = [i for i in range(48) if not (f[:, i] > 0).any()]
    for edits in ([Edit((0, 5), "scale", 1.0)], [Edit((3,), "add", 0.0)], [Edit(dead, "zero")]):
        with torch.no_grad():
            out = net.run_with_hooks(x, legal, steering_hooks(d, edits))
        assert torch.equal(out.policy_logits, clean.policy_logits)
    # every op against decode(f') + error computed by hand
    active = int(f.sum(0).argmax())
    for edit in (
        Edit((active,), "scale", 3.0),
        Edit((active, 7), "clamp", 2.5),
        Edit((active,), "zero"),
        Edit((7, 9), "add", -1.5),
    ):
        f2 = f.clone()
        cols = list(edit.latents)
        f2[:, cols] = {
            "scale": f[:, cols] * edit.value,
            "clamp": torch.full_like(f[:, cols], edit.value),
            "zero": torch.zeros_like(f[:, cols]),
            "add": f[:, cols] + edit.value,
        }[edit.op]
        with torch.no_grad():
            expected = d.decode(f2) + (act - d.decode(f))
        got = _capture(net, x, legal, steering_hooks(d, [edit]), "ln_final")
        with torch.no_grad():
            want = _capture(net, x, legal, {SITE: lambda t, e=expected: e}, "ln_final")
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    # two edits on one latent compose in order: scale 2 then add 1
    both = steering_delta(d, act, [Edit((active,), "scale", 2.0), Edit((active,), "add", 1.0)])
    expect = (f[:, active] + 1.0)[:, None] * d.W_dec[active] / d.out_scale
    torch.testing.assert_close(both, expect.detach(), atol=1e-5, rtol=1e-4)


def test_transcoder_edit_moves_the_mlp_output_by_the_decoded_change(setup):
    net, me, opp = setup
    x, legal = net.encode(me, opp)
    d = _dictionary("blocks.0.mlp_in", "blocks.0.mlp_out", skip=True)
    with torch.no_grad():
        _, cache = net.run_with_cache(x, legal, ["blocks.0.mlp_in", "blocks.0.mlp_out"])
        h, y = cache["blocks.0.mlp_in"], cache["blocks.0.mlp_out"]
        f = d.encode(h)
        f2 = f.clone()
        f2[:, [1, 2]] = 4.0
        expected = y + d.decode(f2, h) - d.decode(f, h)  # the skip term cancels
    hooks = steering_hooks(d, [Edit((1, 2), "clamp", 4.0)])
    resid = _capture(net, x, legal, hooks, "blocks.0.resid_post")
    pre = _capture(net, x, legal, {}, "blocks.0.resid_pre")
    torch.testing.assert_close(resid - pre, expected, atol=1e-5, rtol=1e-4)


def test_random_direction_control_has_the_same_norm_along_one_direction(setup):
    net, me, opp = setup
    x, legal = net.encode(me, opp)
    d = _dictionary(SITE)
    edits = [Edit((0, 1, 2), "add", 2.0)]
    u = random_direction(32, seed=3)
    act = _capture(net, x, legal, {}, SITE)
    delta = steering_delta(d, act, edits)
    with torch.no_grad():
        change = steering_hooks(d, edits, direction=u)[SITE](act) - act
    torch.testing.assert_close(change.norm(dim=1), delta.norm(dim=1), atol=1e-5, rtol=1e-4)
    cos = torch.nn.functional.cosine_similarity(change, u.expand_as(change), dim=1)
    assert torch.all((cos > 0.9999) | (delta.norm(dim=1) < 1e-6))


def test_mcts_and_players_evaluate_the_steered_float32_net(setup):
    net, me, opp = setup
    d = _dictionary(SITE)
    edits = [Edit((0, 1, 2, 3), "clamp", 6.0)]
    x, legal = net.encode(me[:16], opp[:16])
    with torch.no_grad():
        steered = net.run_with_hooks(x, legal, steering_hooks(d, edits))
    want = torch.softmax(steered.policy_logits, -1).numpy()
    player = steered_player(net, d, edits, simulations=8, seed=0)
    assert player.evaluator.net.stem.weight.dtype == torch.float32
    from othello.game import Position

    positions = [Position(int(a), int(b), True, 6) for a, b in zip(me[:16], opp[:16], strict=True)]
    player.new_match(0)
    player.choose(positions, list(range(16)))
    slots = [player.slot_of[g] for g in range(16)]
    # the root priors the search used (before the move advanced the trees): re-search
    player.mcts.reset(slots, me[:16], opp[:16])
    np.testing.assert_allclose(player.mcts.P[slots, 0], want, atol=1e-5)
    raw = steered_player(net, d, edits, simulations=0)
    assert raw.choose(positions, list(range(16))) == want.argmax(1).tolist()
    clean = AlphaZeroPlayer(net, 0, dtype="float32")
    assert clean.choose(positions, list(range(16))) != raw.choose(positions, list(range(16)))


def test_non_finite_policy_fails_loudly_instead_of_playing(setup):
    net, me, opp = setup
    d = _dictionary(SITE)
    edits = [Edit(tuple(range(48)), "clamp", 3e38)]  # overflows to inf, LayerNorm -> NaN
    from othello.game import Position

    positions = [Position(int(me[0]), int(opp[0]), True, 6)]
    for sims in (0, 4):
        player = steered_player(net, d, edits, simulations=sims)
        with pytest.raises(SteeringError, match="non-finite"):
            player.choose(positions, [0])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny agent and a dictionary bundle that records the agent's hash."""
    path = tmp_path_factory.mktemp("spec")
    torch.manual_seed(1)
    save_agent(AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval(), path / "agent")
    sha = file_hash(path / "agent.safetensors")
    data = {"checkpoint": {"path": str(path / "agent"), "sha256": sha}}
    save_dictionary(_dictionary(SITE), path / "sae", data=data)
    other = {"checkpoint": {"path": "elsewhere", "sha256": "0123456789abcdef"}}
    save_dictionary(_dictionary(SITE), path / "foreign", data=other)
    save_dictionary(_dictionary("blocks.1.resid_post", d=16), path / "narrow", data=data)
    return path


def test_player_spec_plays_matches_and_play_py(saved, capsys):
    spec = f"az:{saved / 'agent'}:4+steer:{saved / 'sae.json'}:0,2-4:scale:3"
    player = make_player(spec, 6)
    assert player.name.endswith("+steer:" + spec.split("+steer:")[1])
    result = play_match(player, make_player("random", 6), 6, 6, progress=False)
    assert result.games == 6
    path, edits = parse_steer(f"steer:{saved}/sae.json:1:add:0.5+steer:{saved}/sae.json:1:zero:0")
    assert path.endswith("sae.json") and [e.op for e in edits] == ["add", "zero"]
    from play import main

    assert main(["--games", "2", "--p1", spec, "--p2", "greedy"]) == 0
    assert "2 games" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tail, message",
    [
        ("sae.json:48:scale:2", "out of range"),
        ("sae.json:1:double:2", "unknown op"),
        ("sae.json:1:clamp:nan", "finite"),
        ("sae.json:1:add:inf", "finite"),
        ("sae.json:1:add:x", "must be a number"),
        ("sae.json:1,a:add:1", "latents must be ids"),
        ("sae.json:1:add", "must have the form"),
        ("foreign.json:1:add:1", "trained on agent elsewhere"),
        ("narrow.json:1:add:1", "16"),
        ("missing.json:1:add:1", "not found"),
    ],
)
def test_bad_steering_is_a_one_line_usage_error(saved, capsys, tail, message):
    from play import main

    spec = f"az:{saved / 'agent'}:0+steer:{saved}/{tail}"
    with pytest.raises(SystemExit) as e:
        main(["--games", "2", "--p1", spec, "--p2", "random"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and "Traceback" not in err


def _bits(row) -> int:
    return sum(1 << s for s in np.flatnonzero(row))


def _single_position_protected(p, action):
    """The same geometry from the readable rules: threatened discs no longer flippable."""
    n = p.n

    def flippable(me, opp):  # discs of `opp` that `me` flips with one legal move
        out = 0
        for sq in bb.bits(bb.legal_moves(me, opp, n)):
            out |= bb.flips(me, opp, 1 << sq, n)
        return out

    before = flippable(p.opp, p.me) & p.me
    after = p.play(action)  # the opponent is to move in `after`
    return before & ~flippable(after.me, after.opp)


def test_protect_and_resolve_match_the_single_position_rules():
    positions = [p for p in random_positions(6, 60, 7) if not p.is_terminal()]
    me, opp = as_arrays(positions)
    resolving = resolving_moves(me, opp, 6)
    threat = threatened(me, opp, 6)
    for i, p in enumerate(positions):
        for a in p.legal_actions():
            want = _single_position_protected(p, a)
            got = protected(me[i : i + 1], opp[i : i + 1], [a], 6)[0]
            assert got.tolist() == [bool(want >> s & 1) for s in range(36)]
            assert resolving[i, a] == bool(want)
            assert not want & ~_bits(threat[i])  # only discs threatened before
    assert resolving.any() and not resolving.all()


def test_paired_interval_is_exact_for_a_constant_change_and_covers_the_mean():
    rng = np.random.default_rng(0)
    same = paired_interval(np.full(50, 0.25), np.ones(50), rng, 200)
    assert same["mean"] == same["low"] == same["high"] == pytest.approx(0.25)
    noisy = paired_interval(rng.normal(0.1, 1, 400), np.ones(400), rng, 500)
    assert noisy["low"] < noisy["mean"] < noisy["high"]
    assert math.isclose(noisy["high"] - noisy["low"], 2 * 1.96 / 20, rel_tol=0.3)


def test_measurement_command_prints_effect_and_controls_as_json(tmp_path, capsys):
    from sae.concepts.labels import load_labels
    from sae.steering.cli import main
    from tests.test_labels import make_store

    store = make_store(tmp_path, positions=900)
    data = {"checkpoint": store.manifest["checkpoint"]}
    save_dictionary(_dictionary(SITE), tmp_path / "sae", data=data)
    threat = load_labels(store, store.rows("heldout"), progress=False).select("threat_defensive")
    square = threat.names[int(threat.matrix.sum(0).argmax())]
    args = [str(tmp_path / "sae.json"), "--store", str(store.root), "--concepts", square]
    args += ["--top-n", "2", "--positions", "80", "--solver-positions", "10", "--games", "4"]
    assert main([*args, "--resamples", "50", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "steering_effect" and len(result["latents"]) == 2
    for change in (result["effect"], *result["controls"].values()):
        assert set(change) >= {"concept", "no_concept", "match"}
        stat = change["concept"]["protect_rate"]
        assert stat["low"] <= stat["mean"] <= stat["high"]
    assert set(result["controls"]["random_latents"]["latents"]).isdisjoint(result["latents"])
    assert (
        main(
            [
                *args,
                "--sweep",
                "--strengths",
                "0,1,5",
                "--top-ns",
                "1,2",
                "--games",
                "0",
                "--sims",  # moves from MCTS of the steered net
                "2",
                "--resamples",
                "20",
                "--plot",
                str(tmp_path / "dose.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "dose.png").stat().st_size > 0
    assert "strength" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main([*args, "--op", "halve"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main([*args, "--latents", "999"])
    assert "out of range" in str(e.value.code)
