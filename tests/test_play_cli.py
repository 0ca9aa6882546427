"""`play.py` driven as a user would: a terminal session through pexpect, and matches
through subprocess, both started from the repository root exactly as documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

import play

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Your move"


def spawn(*args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["play.py", "--human", *args],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=60,
    )


def finish(child: pexpect.spawn) -> tuple[str, int]:
    child.expect(pexpect.EOF)
    rest = child.before
    child.close()
    return rest, child.exitstatus


def test_bad_entries_reprompt_with_a_reason_and_quit_exits_cleanly():
    child = spawn("--opponent", "greedy")
    child.expect(PROMPT)
    for entry, reason in [
        ("c3", "c3 is occupied"),  # a white centre disc
        ("a1", "a1 flips no disc"),
        ("zz", "Not understood: 'zz' is not a square"),
        ("c9", "row 9 is off the board"),
        ("pass", "You cannot pass"),
    ]:
        child.sendline(entry)
        child.expect(reason)
        child.expect(PROMPT)  # asked again, same game
    child.sendline("quit")
    out, status = finish(child)
    assert "Bye." in out and "Traceback" not in out
    assert status == 0


def test_eof_ends_cleanly():
    child = spawn("--opponent", "random")
    child.expect(PROMPT)
    child.sendeof()
    out, status = finish(child)
    assert "Bye." in out and "Traceback" not in out and status == 0


def test_ctrl_c_ends_cleanly():
    child = spawn("--opponent", "random")
    child.expect(PROMPT)
    child.sendintr()
    out, status = finish(child)
    assert "Bye." in out and "Traceback" not in out and status == 0


@pytest.mark.parametrize("color", ["black", "white"])
def test_a_full_game_reaches_the_result(color):
    child = spawn("--opponent", "greedy", "--color", color, "--seed", "3")
    if color == "white":
        child.expect(r"greedy plays [a-f][1-6]\.")  # the opponent opens
    moves = 0
    while True:
        i = child.expect([r"Legal moves: ([a-f1-6 ]+)\r\n", r"Game over\. (You win|You lose|Draw)"])
        if i == 1:
            break
        legal = child.match.group(1).split()
        child.expect(PROMPT)
        child.sendline(legal[0])
        moves += 1
    out, status = finish(child)
    assert status == 0 and "Traceback" not in out
    assert 5 <= moves <= 18  # half the squares of a 6x6 game, give or take passes


ENTRY_POINTS = {
    "new": ["play.py"],
    "script": ["othello/play.py"],  # the old ones, forwarded
    "module": ["-m", "othello.play"],
}


def run(*args: str, entry: str = "new") -> subprocess.CompletedProcess:
    cmd = [sys.executable, *ENTRY_POINTS[entry], *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry", ["new", "script", "module"])
def test_match_json_counts_are_consistent(entry):
    r = run("--games", "4", "--p1", "greedy", "--p2", "random", "--json", entry=entry)
    assert r.returncode == 0, r.stderr
    # the old entry points still work, and say where the command went
    assert ("`python play.py`" in r.stderr) == (entry != "new")
    d = json.loads(r.stdout)
    assert d["games"] == d["wins"] + d["draws"] + d["losses"] == 4
    assert (d["p1"], d["p2"], d["board_size"]) == ("greedy", "random", 6)
    assert d["score_rate"] == pytest.approx((d["wins"] + d["draws"] / 2) / 4)


def test_match_text_report():
    r = run("--games", "2", "--p1", "alphabeta:1", "--p2", "random", "--size", "4")
    assert r.returncode == 0, r.stderr
    assert re.search(r"p1 wins \d, draws \d, losses \d", r.stdout)
    assert "mean disc difference" in r.stdout and "95% interval" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--games", "4", "--p1", "greedy", "--p2", "minimax"], "valid forms: random, greedy"),
        (["--games", "4", "--p1", "alphabeta:x", "--p2", "random"], "expected an integer"),
        (["--games", "0", "--p1", "greedy", "--p2", "random"], "at least 1"),
        (["--games", "4", "--p1", "greedy"], "needs --p1 SPEC and --p2 SPEC"),
        (["--human", "--size", "5"], "even integer"),
        ([], "one of the arguments --human --games is required"),
    ],
)
def test_bad_command_lines_fail_with_a_clear_message(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_default_opponent_prefers_the_shipped_agent(tmp_path, monkeypatch):
    monkeypatch.setattr(play, "REPO_ROOT", tmp_path)
    assert play.default_opponent() == "alphabeta:4"
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "agent.json").write_text("{}")
    assert play.default_opponent() == f"az:{tmp_path / 'pretrained' / 'agent'}"
