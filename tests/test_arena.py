from __future__ import annotations

import json
import math

import pytest

from othello import elo
from othello.arena import OPENING, P1, P2, IllegalActionError, MatchResult, play_match
from othello.game import Position
from othello.player import Player
from othello.players import AlphaBetaPlayer, GreedyPlayer, RandomPlayer


class Spy(Player):
    """Wraps a player and logs every call the arena makes."""

    def __init__(self, inner: Player):
        self.inner, self.name = inner, inner.name
        self.calls: list[list[int]] = []
        self.seeds: list[int | None] = []
        self.ended: list[int] = []

    def new_match(self, seed=None):
        self.seeds.append(seed)
        self.inner.new_match(seed)

    def choose(self, positions, game_ids):
        assert not any(p.is_terminal() for p in positions)
        self.calls.append(list(game_ids))
        return self.inner.choose(positions, game_ids)

    def game_over(self, game_id):
        self.ended.append(game_id)


class Cheater(Player):
    name = "cheater"

    def choose(self, positions, game_ids):
        return [0 for _ in positions]  # a1 is never legal early on


def test_counts_records_and_json_agree():
    r = play_match(RandomPlayer(), GreedyPlayer(), 12, opening_plies=4, progress=False, record=True)
    assert r.wins + r.draws + r.losses == r.games == len(r.records) == 12
    assert [rec.game_id for rec in r.records] == list(range(12))
    assert sum(rec.result == 1 for rec in r.records) == r.wins
    assert sum(rec.result == 0 for rec in r.records) == r.draws
    assert r.mean_disc_diff == pytest.approx(sum(rec.disc_diff for rec in r.records) / 12)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert (d["wins"], d["draws"], d["losses"], d["games"]) == (r.wins, r.draws, r.losses, 12)
    assert d["score_rate"] == pytest.approx((r.wins + r.draws / 2) / 12, abs=1e-4)
    assert d["elo_low"] <= d["elo"] <= d["elo_high"]


def test_records_replay_and_colours_alternate():
    r = play_match(RandomPlayer(), GreedyPlayer(), 10, opening_plies=5, progress=False, record=True)
    for rec in r.records:
        assert rec.p1_black == (rec.game_id % 2 == 0)
        assert rec.positions[0] == Position.start(6)
        assert len(rec.positions) == len(rec.actions) + 1 == len(rec.movers) + 1
        for before, a, after in zip(rec.positions, rec.actions, rec.positions[1:], strict=False):
            assert before.play(a) == after
        assert rec.movers[:5] == [OPENING] * 5 and OPENING not in rec.movers[5:]
        for p, mover in zip(rec.positions[5:], rec.movers[5:], strict=False):
            assert mover == (P1 if p.black_to_move == rec.p1_black else P2)
        final = rec.positions[-1]
        assert final.is_terminal()
        p1_discs = bb_count(final.black if rec.p1_black else final.white)
        p2_discs = bb_count(final.white if rec.p1_black else final.black)
        assert rec.disc_diff == p1_discs - p2_discs


def bb_count(x: int) -> int:
    return bin(x).count("1")


def test_openings_are_paired_with_colours_swapped_and_distinct():
    r = play_match(RandomPlayer(), RandomPlayer(), 20, opening_plies=6, progress=False, record=True)
    after_opening = [rec.positions[6] for rec in r.records]
    for k in range(10):
        assert r.records[2 * k].actions[:6] == r.records[2 * k + 1].actions[:6]
    assert len(set(after_opening)) == 10  # one per pair, no two pairs alike


def test_deterministic_players_still_play_different_games():
    r = play_match(
        AlphaBetaPlayer(2), AlphaBetaPlayer(1), 8, opening_plies=4, progress=False, record=True
    )
    assert len({tuple(rec.actions) for rec in r.records}) == 8


def test_same_seed_same_match_other_seed_other_match():
    def actions(seed):
        r = play_match(RandomPlayer(), GreedyPlayer(), 6, seed=seed, progress=False, record=True)
        return [rec.actions for rec in r.records]

    assert actions(1) == actions(1)
    assert actions(1) != actions(2)


def test_lockstep_one_call_per_player_per_step():
    s1, s2 = Spy(RandomPlayer()), Spy(RandomPlayer())
    r = play_match(s1, s2, 16, opening_plies=2, progress=False, record=True)
    for spy, mover in ((s1, P1), (s2, P2)):
        assert len(spy.seeds) == 1 and isinstance(spy.seeds[0], int)
        assert sorted(spy.ended) == sorted(s1.ended) == list(range(16))
        for ids in spy.calls:
            assert len(ids) == len(set(ids))
        moves = sum(rec.movers.count(mover) for rec in r.records)
        assert sum(map(len, spy.calls)) == moves
        longest = max(rec.movers.count(mover) for rec in r.records)
        assert len(spy.calls) <= longest + 1  # batched across games, not one call per move
    assert len(s1.calls[0]) == 8  # p1 is to move in exactly the half of the games it is black
    assert s1.seeds != s2.seeds


def test_illegal_action_names_the_player():
    with pytest.raises(IllegalActionError, match="cheater played 0 in game"):
        play_match(Cheater(), RandomPlayer(), 2, progress=False)


def test_a_stronger_player_wins_more():
    r = play_match(AlphaBetaPlayer(2), RandomPlayer(), 20, progress=False)
    assert r.score_rate >= 0.8 and r.elo > 0 and r.mean_disc_diff > 0


def test_invalid_match_arguments():
    with pytest.raises(ValueError, match="games"):
        play_match(RandomPlayer(), RandomPlayer(), 0, progress=False)
    with pytest.raises(ValueError, match="opening_plies"):
        play_match(RandomPlayer(), RandomPlayer(), 2, opening_plies=-1, progress=False)


# -- Elo ---------------------------------------------------------------------------------


def test_elo_formula():
    assert elo.elo_from_score(0.5) == 0
    assert elo.elo_from_score(10 / 11) == pytest.approx(400)  # 10:1 odds = 400 points
    assert elo.elo_from_score(0.25) == pytest.approx(-elo.elo_from_score(0.75))
    assert elo.score_from_elo(elo.elo_from_score(0.3)) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        elo.elo_from_score(1.5)


def test_interval_contains_the_estimate_and_shrinks_with_games():
    lo100, hi100 = elo.elo_interval(0.6, 100)
    lo1000, hi1000 = elo.elo_interval(0.6, 1000)
    assert lo100 < lo1000 < elo.elo_from_score(0.6) < hi1000 < hi100
    # Wilson at 60% of 100: about 50.2% .. 69.1%.
    assert elo.wilson_interval(0.6, 100) == pytest.approx((0.5020, 0.6906), abs=1e-3)


def test_perfect_scores_have_one_open_end():
    low, high = elo.elo_interval(1.0, 200)
    assert high == math.inf and 600 < low < 800  # Wilson lower end 200/(200+1.96^2)
    assert low == pytest.approx(elo.elo_from_score(200 / (200 + elo.Z_95**2)))
    low0, high0 = elo.elo_interval(0.0, 200)
    assert low0 == -math.inf and high0 == pytest.approx(-low)
    assert math.isfinite(elo.elo_clamped(1.0, 200)) and elo.elo_clamped(1.0, 200) > low


def test_all_wins_serialise_with_a_null_upper_end():
    r = MatchResult("a", "b", 6, 0, 0)
    for g in range(4):
        r.add(p1_black=g % 2 == 0, disc_diff=10)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["score_rate"] == 1 and d["elo_high"] is None
    assert d["elo_low"] < d["elo"]  # finite stand-in above the finite lower end
    assert d["p1_score_as_black"] == d["p1_score_as_white"] == 1
