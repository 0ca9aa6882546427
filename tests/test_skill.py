"""Skill study: transition points and the skill order on hand-made cases, externalisation
targets against the single-position rules, policy-head fine-tuning moves only the head and
toward the optimal moves, awareness captures what leaves a steered site."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alphazero.evaluate import solve_all
from alphazero.model import AlphaZeroNet, NetConfig
from sae.concepts.labels import labels_for_positions
from sae.dictionary.model import DictConfig, Dictionary
from sae.skill.awareness import family_means, site_acts, sites_of
from sae.skill.calibrate import FinetuneConfig, finetune_head, head_inputs
from sae.skill.levels import (
    NEVER,
    Level,
    distribution,
    optimal_actions,
    score_level,
    skill_order,
    threat_targets,
    transition_points,
)
from sae.steering.edit import Edit, steering_delta, steering_hooks
from tests.engine_helpers import random_positions
from tests.test_steer import _single_position_protected


def test_transition_point_is_the_lowest_level_from_which_all_stronger_are_right():
    correct = np.array(
        [
            [1, 0, 1, 1, 0, 1],
            [1, 1, 0, 1, 0, 0],
            [1, 1, 1, 0, 0, 1],
        ],
        bool,
    )
    points = transition_points(correct)
    assert points.tolist() == [0, 1, 2, NEVER, NEVER, 2]
    order = [Level("a", 0), Level("a", 16), Level("b", 0)]
    assert distribution(points, order) == {"a/0": 1, "a/16": 1, "b/0": 2, "never": 2}


def test_skill_order_sorts_by_exact_rate_then_discs_lost_then_budget():
    levels = [Level("x", 0), Level("x", 16), Level("y", 0), Level("y", 16)]
    scores = {
        "x/0": {"exact_accuracy": 0.5, "discs_lost": 3.0},
        "x/16": {"exact_accuracy": 0.6, "discs_lost": 2.0},
        "y/0": {"exact_accuracy": 0.6, "discs_lost": 2.5},
        "y/16": {"exact_accuracy": 0.7, "discs_lost": 1.0},
    }
    assert [lv.name for lv in skill_order(levels, scores)] == ["x/0", "y/0", "x/16", "y/16"]


@pytest.fixture(scope="module")
def solved():
    positions = [
        p
        for p in random_positions(6, 400, 5)
        if not p.is_terminal() and 6 <= p.empties() <= 11 and len(p.legal_actions()) > 1
    ]
    return solve_all(positions[:60], progress=False)


def test_threat_positions_and_externalisation_follow_the_definitions(solved):
    threat, targets = threat_targets(solved, 6)
    for i, s in enumerate(solved):
        best = [a for a, v in s.values.items() if v == s.best]
        resolving = [a for a in best if _single_position_protected(s.position, a)]
        assert targets[i].nonzero()[0].tolist() == sorted(resolving)
        assert threat[i] == (bool(resolving) and len(resolving) < len(s.values))
    assert 0 < threat.sum() < len(solved)
    # playing a target everywhere scores 1, playing a non-target 0
    hit = np.array([np.flatnonzero(t)[0] if t.any() else 0 for t in targets])
    assert score_level(solved, _legalise(solved, hit), threat, targets)["externalisation"] == 1.0
    miss = np.array([next(a for a in s.values if not targets[i, a]) for i, s in enumerate(solved)])
    result = score_level(solved, miss, threat, targets)
    assert result["externalisation"] == 0.0 and result["threat_positions"] == threat.sum()


def _legalise(solved, actions):
    return np.array(
        [a if a in s.values else next(iter(s.values)) for a, s in zip(actions, solved, strict=True)]
    )


def test_head_finetuning_moves_only_the_head_toward_optimal_moves(solved):
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()
    games = np.arange(len(solved)) % 7
    cfg = FinetuneConfig(lr=3e-2, batch_size=16, max_epochs=15, patience=3, progress=False)
    tuned, info = finetune_head(net, solved, games, cfg)
    for (name, a), (_, b) in zip(net.state_dict().items(), tuned.state_dict().items(), strict=True):
        assert torch.equal(a, b) != name.startswith("policy_head"), name
    assert info["best_val_loss"] < info["log"][0]["val_loss"]
    optimal = torch.from_numpy(optimal_actions(solved, 6))

    def optimal_mass(model):
        feats, legal = head_inputs(model, solved)
        with torch.no_grad():
            p = torch.softmax(model.policy_head(feats).masked_fill(~legal, float("-inf")), -1)
        return float((p * optimal).sum(1).mean())

    assert optimal_mass(tuned) > optimal_mass(net)


def test_awareness_sees_the_activation_a_steering_edit_leaves():
    torch.manual_seed(0)
    net = AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval()
    me = np.array([p.me for p in random_positions(6, 40, 2)], np.uint64)
    opp = np.array([p.opp for p in random_positions(6, 40, 2)], np.uint64)
    site = "blocks.0.resid_post"
    d = Dictionary(DictConfig("topk", 32, 24, 4, in_site=site)).eval()
    hooks = steering_hooks(d, [Edit((0, 1), "clamp", 5.0)])
    clean = site_acts(net, me, opp, sites_of(net))
    steered = site_acts(net, me, opp, sites_of(net), hooks)
    x = torch.from_numpy(clean[site])
    with torch.no_grad():
        want = x + steering_delta(d, x, [Edit((0, 1), "clamp", 5.0)])
    np.testing.assert_allclose(steered[site], want.numpy(), atol=1e-5)
    assert not np.allclose(steered["blocks.1.resid_post"], clean["blocks.1.resid_post"])
    labels = labels_for_positions(me, opp, 6).select(["threat_defensive", "stable_mine"])
    scores = np.where(np.char.startswith(np.array(labels.names), "threat"), 0.75, 0.25)
    scores[0] = np.nan  # a concept without both classes is skipped, not averaged
    assert family_means(scores, labels) == {"threat": 0.75, "stability": 0.25}


def test_skill_command_end_to_end_on_a_tiny_store(tmp_path, capsys):
    import json

    import sae.probes.report  # noqa: F401
    from alphazero.model import save_agent
    from sae.skill.study import main
    from tests.test_labels import make_store

    store = make_store(tmp_path, positions=900)
    torch.manual_seed(3)
    save_agent(
        AlphaZeroNet(NetConfig(d_model=32, n_blocks=2)).eval(), tmp_path / "levels" / "iter_0001"
    )
    args = ["--store", str(store.root), "--levels-dir", str(tmp_path / "levels")]
    args += ["--agent", str(tmp_path / "agent"), "--weak", str(tmp_path / "levels" / "iter_0001")]
    args += ["--positions", "30", "--awareness-positions", "240", "--sims", "0,2"]
    args += ["--steer-block", "1", "--steer-top-n", "1", "--sae-steps", "5", "--sae-latents", "32"]
    args += ["--sae-positions", "300", "--finetune-positions", "40", "--out", str(tmp_path / "out")]
    args += ["--plot-prefix", str(tmp_path / "skill")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Transition points" in out and "Calibration" in out
    result = json.loads((tmp_path / "out" / "skill.json").read_text())
    assert len(result["order"]) == 4
    for key in ("clean", "steered"):
        assert sum(result["transition"][key].values()) == result["positions"]["solved"]
    rows = result["calibration"]["rows"]
    assert set(rows) == {
        "weak (before)",
        "(a) head fine-tuned",
        "(b) steered",
        "(b) control: random latents",
    }
    assert rows["(a) head fine-tuned"]["awareness"] == rows["weak (before)"]["awareness"]
    for name in ("adaptation", "transition"):
        assert (tmp_path / f"skill_{name}.png").stat().st_size > 0
    with pytest.raises(SystemExit) as e:
        main([*args, "--weak", "nowhere"])
    assert "not one of the checkpoints" in str(e.value.code)
