"""Agent evaluation: move accuracy bookkeeping and a tiny end-to-end run of the CLI."""

import json

import pytest
import torch

from alphazero.evaluate import SolvedPosition, main, move_accuracy
from alphazero.model import AlphaZeroNet, NetConfig, save_agent
from othello.game import Position


def test_move_accuracy_counts_outcome_classes_and_discs():
    p = Position.start(6)
    win_or_lose = SolvedPosition(p, {1: 4, 2: 2, 3: -2})  # best +4; 3 loses the win
    all_lost = SolvedPosition(p, {1: -2, 2: -6})  # every move loses: not critical
    r = move_accuracy([win_or_lose, all_lost], [2, 2])
    assert r["outcome_accuracy"] == 1.0  # +2 keeps the win; -6 keeps the (forced) loss
    assert r["exact_accuracy"] == 0.0
    assert r["discs_lost"] == (2 + 4) / 2
    assert r["critical_positions"] == 1 and r["critical_accuracy"] == 1.0
    lo, hi = r["outcome_accuracy_95"]
    assert 0 < lo < 1 == hi  # two positions say little: a wide interval
    r = move_accuracy([win_or_lose, all_lost], [3, 1])
    assert r["outcome_accuracy"] == 0.5 and r["critical_accuracy"] == 0.0
    lo, hi = r["outcome_accuracy_95"]
    assert lo < 0.5 < hi
    many = move_accuracy([win_or_lose] * 200 + [all_lost] * 200, [3] * 200 + [1] * 200)
    assert hi - lo > 5 * (many["outcome_accuracy_95"][1] - many["outcome_accuracy_95"][0]) > 0
    assert r["exact_accuracy"] == 0.5


def test_evaluate_cli_end_to_end(tmp_path, capsys):
    torch.manual_seed(0)
    save_agent(AlphaZeroNet(NetConfig(d_model=16, n_blocks=1)), tmp_path / "agent")
    out = tmp_path / "eval.json"
    main(
        [
            str(tmp_path / "agent"),
            "--games",
            "4",
            "--sims",
            "4",
            "--opponents",
            "random",
            "--positions",
            "6",
            "--accuracy-sims",
            "0,4",
            "--json",
            str(out),
        ]
    )
    results = json.loads(out.read_text())
    m = results["matches"]["random"]
    assert m["wins"] + m["draws"] + m["losses"] == 4
    acc = results["accuracy"]
    assert set(acc) == {"raw policy", "mcts 4"}
    assert all(r["positions"] == 6 and 0 <= r["outcome_accuracy"] <= 1 for r in acc.values())
    assert "Move accuracy" in capsys.readouterr().out


def test_evaluate_cli_rejects_a_missing_checkpoint(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nothing")])
