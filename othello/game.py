"""One Othello position: the single-position API used by search, the solver and the tests.

A `Position` is immutable and canonical: `me` are the discs of the side to move, `opp` the
other side's; `black_to_move` only matters for display and for reporting results by colour.
Actions are square indices 0..n*n-1 and the pass action n*n, legal only when no square is.
"""

from __future__ import annotations

from dataclasses import dataclass

from othello import bitboard as bb

BLACK_CHAR, WHITE_CHAR, EMPTY_CHAR = "X", "O", "-"
_EMPTY_CHARS = "-."


def square_name(square: int, n: int) -> str:
    if square == n * n:
        return "pass"
    return f"{'abcdefgh'[square % n]}{square // n + 1}"


def parse_square(text: str, n: int) -> int:
    """'c4' -> square index; 'pass' -> n*n. Raises ValueError with the reason."""
    t = text.strip().lower()
    if t == "pass":
        return n * n
    cols = "abcdefgh"[:n]
    if len(t) < 2 or t[0] not in cols or not t[1:].isdigit():
        raise ValueError(
            f"{text!r} is not a square: use a column {cols[0]}-{cols[-1]} and a "
            f"row 1-{n}, like {cols[2]}{min(4, n)}"
        )
    row = int(t[1:])
    if not 1 <= row <= n:
        raise ValueError(f"row {row} is off the board (rows are 1-{n})")
    return (row - 1) * n + cols.index(t[0])


@dataclass(frozen=True, slots=True)
class Position:
    me: int
    opp: int
    black_to_move: bool = True
    n: int = 6

    @classmethod
    def start(cls, n: int = 6) -> Position:
        """Standard start: white on the main diagonal of the centre, black to move."""
        bb.check_size(n)
        h = n // 2
        white = 1 << ((h - 1) * n + h - 1) | 1 << (h * n + h)
        black = 1 << ((h - 1) * n + h) | 1 << (h * n + h - 1)
        return cls(black, white, True, n)

    # -- colours ---------------------------------------------------------------------
    @property
    def black(self) -> int:
        return self.me if self.black_to_move else self.opp

    @property
    def white(self) -> int:
        return self.opp if self.black_to_move else self.me

    @classmethod
    def from_colors(cls, black: int, white: int, black_to_move: bool, n: int = 6) -> Position:
        if black & white:
            raise ValueError("a square cannot hold both colours")
        if black_to_move:
            return cls(black, white, True, n)
        return cls(white, black, False, n)

    # -- rules -----------------------------------------------------------------------
    @property
    def pass_action(self) -> int:
        return self.n * self.n

    def legal_moves(self) -> int:
        """Bitmask of legal squares for the side to move (0: must pass, or game over)."""
        return bb.legal_moves(self.me, self.opp, self.n)

    def legal_actions(self) -> list[int]:
        """Legal action indices; [pass] when the side to move has no square; [] when over."""
        moves = self.legal_moves()
        if moves:
            return list(bb.bits(moves))
        return [] if self.is_terminal() else [self.pass_action]

    def is_terminal(self) -> bool:
        return not self.legal_moves() and not bb.legal_moves(self.opp, self.me, self.n)

    def play(self, action: int) -> Position:
        """The position after `action`; raises ValueError if it is not legal here."""
        moves = self.legal_moves()
        if action == self.pass_action:
            if moves or self.is_terminal():
                raise ValueError("pass is only legal when the side to move has no move")
        elif not (0 <= action < self.pass_action and moves >> action & 1):
            name = square_name(action, self.n) if 0 <= action < self.pass_action else action
            raise ValueError(f"{name} is not a legal move")
        me, opp = bb.play(self.me, self.opp, action, self.n)
        return Position(me, opp, not self.black_to_move, self.n)

    def flips(self, action: int) -> int:
        return bb.flips(self.me, self.opp, 1 << action, self.n)

    def empties(self) -> int:
        return self.n * self.n - bb.popcount(self.me | self.opp)

    def disc_diff(self) -> int:
        """My discs minus the opponent's (the final score when the game is over)."""
        return bb.popcount(self.me) - bb.popcount(self.opp)

    def result(self) -> int:
        """+1 / 0 / -1 for the side to move: a draw is a draw."""
        d = self.disc_diff()
        return (d > 0) - (d < 0)

    # -- text --------------------------------------------------------------------------
    def to_text(self) -> str:
        """Compact form: n*n chars of X (black), O (white), - (empty), a space, side to move."""
        cells = []
        for i in range(self.n * self.n):
            cells.append(
                BLACK_CHAR
                if self.black >> i & 1
                else WHITE_CHAR
                if self.white >> i & 1
                else EMPTY_CHAR
            )
        return "".join(cells) + " " + (BLACK_CHAR if self.black_to_move else WHITE_CHAR)

    @classmethod
    def from_text(cls, text: str) -> Position:
        """Parse `to_text` output. Whitespace and '/' between rows are ignored; '.' also means
        empty; the last character names the side to move. Errors say what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"a position must be text, got {type(text).__name__}")
        chars = [ch for ch in text.upper() if not ch.isspace() and ch != "/"]
        if len(chars) < 2:
            raise ValueError("empty position: expected n*n squares of X/O/- then X or O to move")
        side, cells = chars[-1], chars[:-1]
        if side not in (BLACK_CHAR, WHITE_CHAR):
            raise ValueError(f"the last character must be the side to move, X or O; got {side!r}")
        n = round(len(cells) ** 0.5)
        if n * n != len(cells) or n % 2 or not bb.MIN_SIZE <= n <= bb.MAX_SIZE:
            raise ValueError(
                f"{len(cells)} squares given; expected 16, 36, 64 (an even square "
                f"board of size {bb.MIN_SIZE}..{bb.MAX_SIZE}) before the side to move"
            )
        black = white = 0
        for i, ch in enumerate(cells):
            if ch == BLACK_CHAR:
                black |= 1 << i
            elif ch == WHITE_CHAR:
                white |= 1 << i
            elif ch not in _EMPTY_CHARS:
                raise ValueError(f"square {square_name(i, n)} holds {ch!r}; use X, O, - or .")
        return cls.from_colors(black, white, side == BLACK_CHAR, n)

    def render(self, marks: int = 0) -> str:
        """Multi-line board for humans; squares in `marks` (e.g. legal moves) shown as '*'."""
        n = self.n
        lines = ["   " + " ".join("abcdefgh"[:n])]
        for r in range(n):
            row = []
            for c in range(n):
                i = r * n + c
                row.append(
                    BLACK_CHAR
                    if self.black >> i & 1
                    else WHITE_CHAR
                    if self.white >> i & 1
                    else "*"
                    if marks >> i & 1
                    else EMPTY_CHAR
                )
            lines.append(f"{r + 1:>2} " + " ".join(row))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()
