"""Self-play targets, the replay buffer's symmetries, and training with resume."""

import json

import numpy as np
import pytest
import torch

from alphazero.replay import ReplayBuffer
from alphazero.selfplay import SelfPlayConfig, self_play
from alphazero.train import make_config, train
from common.io import load_state, save_state
from othello import batch, symmetry
from othello.game import Position
from othello.solver import Solver

N = 6


def uniform(me, opp):
    legal = batch.legal_action_mask(me, opp, N)
    return legal / legal.sum(1, keepdims=True), np.zeros(len(me), np.float32)


@pytest.fixture(scope="module", params=["puct", "gumbel"])
def played(request):
    cfg = SelfPlayConfig(parallel_games=5, simulations=8, root_rule=request.param)
    return self_play(uniform, N, 12, cfg, seed=0, progress=False)


def test_every_game_is_played_and_counted(played):
    ex, stats = played
    assert stats.games == 12
    assert stats.black_wins + stats.white_wins + stats.draws == 12
    assert stats.positions == len(ex) > 12 * 10


def test_policy_targets_are_distributions_over_legal_moves(played):
    ex, _ = played
    legal = batch.legal_action_mask(ex.me, ex.opp, N)
    assert np.allclose(ex.policy.sum(1), 1, atol=1e-5)
    assert (ex.policy[~legal] == 0).all()
    assert (legal.sum(1) > 1).all()  # forced moves are not recorded


def test_outcome_ownership_and_margin_agree_from_the_movers_view(played):
    ex, _ = played
    # Ownership is the final board from the mover's view: its sum is the final disc margin.
    margin_from_ownership = ex.ownership.sum(1) / (N * N)
    assert np.allclose(margin_from_ownership, ex.margin, atol=1e-6)
    assert np.array_equal(np.sign(ex.margin), ex.outcome)
    # Discs on the board never change colour to empty: my discs now are owned by someone.
    mine_now = batch.unpack(ex.me, N)
    assert (ex.ownership[mine_now] != 0).all()


def test_value_target_mixes_outcome_and_root_value():
    cfg = SelfPlayConfig(parallel_games=4, simulations=8, root_rule="puct", q_weight=0.5)
    mixed, _ = self_play(uniform, N, 4, cfg, seed=0, progress=False)
    pure, _ = self_play(uniform, N, 4, SelfPlayConfig(4, 8, "puct"), seed=0, progress=False)
    assert np.array_equal(mixed.me, pure.me)  # same games: the target does not change play
    assert np.abs(mixed.outcome).max() <= 1
    # Half the outcome plus half a root value in [-1, 1]: within 0.5 of half the outcome.
    assert (np.abs(mixed.outcome - 0.5 * pure.outcome) <= 0.5 + 1e-6).all()
    assert not np.array_equal(mixed.outcome, pure.outcome)


def test_solver_rescores_value_targets():
    """solve_empties=E: positions with <= E empties get their exact win/draw/loss; earlier
    positions of the game take the exact outcome of its first such position (same sign
    relation to the game's real outcome as every position before it)."""
    E = 10
    plain, _ = self_play(uniform, N, 16, SelfPlayConfig(8, 4, "puct"), seed=2, progress=False)
    cfg = SelfPlayConfig(8, 4, "puct", solve_empties=E)
    rescored, _ = self_play(uniform, N, 16, cfg, seed=2, progress=False)
    assert np.array_equal(rescored.me, plain.me)  # the same games
    empties = N * N - batch.popcount(rescored.me | rescored.opp)
    solver = Solver(N)
    exact = [
        solver.solve_wdl(Position(int(m), int(o), True, N))
        for m, o in zip(rescored.me[empties <= E], rescored.opp[empties <= E], strict=True)
    ]
    assert np.array_equal(rescored.outcome[empties <= E], exact)
    # Random play throws solved results away: some games end otherwise than solved.
    game_starts = np.flatnonzero(batch.popcount(rescored.me | rescored.opp) == 4)
    assert len(game_starts) == 16
    flipped = 0
    for a, b in zip(game_starts, list(game_starts[1:]) + [len(rescored)], strict=True):
        first = a + np.flatnonzero(empties[a:b] <= E)[0]
        ratio = rescored.outcome[a : first + 1] * plain.outcome[a : first + 1]
        ratio = ratio[ratio != 0]
        assert len(set(ratio.tolist())) <= 1  # one flip (or none) for the whole prefix
        flipped += bool(len(ratio) and ratio[0] < 0)
    assert 0 < flipped < 16


def test_random_openings_vary_in_length_per_game():
    """opening_plies=K starts each game after 0..K random plies: some games from the start
    position (recorded, since it has four moves), the others further on."""

    def starts(ex):
        return int((batch.popcount(ex.me | ex.opp) == 4).sum())

    plain, _ = self_play(uniform, N, 30, SelfPlayConfig(10, 4, "puct"), seed=1, progress=False)
    cfg = SelfPlayConfig(10, 4, "puct", opening_plies=4)
    varied, stats = self_play(uniform, N, 30, cfg, seed=1, progress=False)
    assert starts(plain) == 30 and stats.games == 30
    assert 0 < starts(varied) < 20


def test_targets_are_from_the_movers_point_of_view(played):
    """A corner can never be flipped, so a corner I hold now is mine at the end (+1) and one
    the opponent holds is theirs (-1): this pins the perspective of every target."""
    ex, _ = played
    mine, theirs = batch.unpack(ex.me, N), batch.unpack(ex.opp, N)
    checked = 0
    for corner in (0, N - 1, N * N - N, N * N - 1):
        assert (ex.ownership[mine[:, corner], corner] == 1).all()
        assert (ex.ownership[theirs[:, corner], corner] == -1).all()
        checked += mine[:, corner].sum() + theirs[:, corner].sum()
    assert checked > 20


def test_replay_symmetries_keep_board_and_targets_together(played, tmp_path):
    ex, _ = played
    buf = ReplayBuffer(capacity=len(ex) - 7, n=N)  # smaller than the data: the ring wraps
    buf.add(ex)
    assert len(buf) == buf.capacity and buf.added == len(ex)
    sample = buf.sample(256, np.random.default_rng(0))
    legal = batch.legal_action_mask(sample.me, sample.opp, N)
    assert (sample.policy[~legal] == 0).all()  # policy moved with the board
    mine = batch.unpack(sample.me, N)
    assert (sample.ownership[mine] != 0).all()
    # Every sample is one of the 8 images of a stored position.
    stored = {
        (int(m), int(o))
        for m, o in zip(buf.data.me[: len(buf)], buf.data.opp[: len(buf)], strict=True)
    }
    for m, o in zip(sample.me[:40], sample.opp[:40], strict=True):
        images = {
            (
                int(symmetry.transform_bitboards(k, np.array([m]), N)[0]),
                int(symmetry.transform_bitboards(k, np.array([o]), N)[0]),
            )
            for k in range(8)
        }
        assert images & stored
    tensors, meta = buf.state()  # through a training state file and back
    save_state(tmp_path / "state", tensors, {"kind": "test", "buffer": meta}, generation=0)
    tensors, config = load_state(tmp_path / "state", "test")
    again = ReplayBuffer.from_state(tensors, config["buffer"])
    assert (again.size, again.next, again.added) == (buf.size, buf.next, buf.added)
    for f in ("me", "opp", "policy", "outcome", "ownership", "margin"):
        assert np.array_equal(getattr(again.data, f), getattr(buf.data, f)), f


def test_selfplay_progress_counts_moves_as_they_are_played(monkeypatch):
    import alphazero.selfplay as sp

    class Bar:  # records what tqdm would show
        def __init__(self, total, **kwargs):
            self.total, self.n, self.shown = total, 0, []

        def update(self, k):
            self.n += k
            self.shown.append((self.n, self.total))

        def set_postfix(self, **kwargs):
            pass

        def close(self):
            bars.append(self)

    bars = []
    monkeypatch.setattr(sp, "tqdm", Bar)
    cfg = SelfPlayConfig(parallel_games=4, simulations=4, opening_plies=3)
    self_play(uniform, N, 8, cfg, seed=0)
    (bar,) = bars
    # ends exactly at its total (the total drops as games end with empty squares)
    assert bar.n == bar.total and 8 * 10 < bar.n <= 8 * (N * N - 4)
    assert all(n <= total for n, total in bar.shown)
    # it moves steadily: half-way through the updates, a good part of the moves is shown
    n_mid = bar.shown[len(bar.shown) // 2][0]
    assert len(bar.shown) > 30 and 0.25 < n_mid / bar.n < 0.75


def test_training_resumes_after_an_interruption(tmp_path, monkeypatch):
    cfg = make_config("tiny", iterations=3, eval_games=2)
    import alphazero.train as train_mod

    real_save = train_mod.Run.save
    calls = {"n": 0}

    def crash_after_first(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed right after iteration 1 was saved

    monkeypatch.setattr(train_mod.Run, "save", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path, progress=False)
    monkeypatch.setattr(train_mod.Run, "save", real_save)
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["iteration"] == 1

    with pytest.raises(FileExistsError):
        train(cfg, tmp_path, progress=False)  # refuses to overwrite without --resume
    with pytest.raises(ValueError, match="different settings"):
        train(
            make_config("tiny", iterations=3, eval_games=2, lr=0.1),
            tmp_path,
            resume=True,
            progress=False,
        )
    net = train(cfg, tmp_path, resume=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [0, 1, 2]
    assert log[2]["step"] > log[1]["step"]
    assert sorted(p.name for p in (tmp_path / "iters").glob("*.json")) == [
        "iter_0000.json",
        "iter_0001.json",
        "iter_0002.json",
    ]
    from alphazero.model import load_agent

    loaded, config = load_agent(tmp_path / "agent")
    assert config["iteration"] == 2
    for a, b in zip(loaded.parameters(), net.parameters(), strict=True):
        assert torch.equal(a, b)
