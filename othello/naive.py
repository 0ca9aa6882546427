"""A deliberately naive Othello: a 2-D list board, rules walked square by square.

It shares no code with the bitboard engine on purpose. It is the independent oracle the
tests check `othello.bitboard` and `othello.batch` against, and the "straightforward
pure-Python per-square implementation" that `bench/bench_engine.py` measures the batched
engine against. Keep it obviously correct, not fast.

A board is `board[row][col]` holding EMPTY, BLACK or WHITE (WHITE == -BLACK, so the
opponent of `player` is `-player`). Square (row, col) is index row * n + col, as in
`othello.bitboard`. A move is a (row, col) pair; None is a pass.
"""

from __future__ import annotations

EMPTY, BLACK, WHITE = 0, 1, -1
_DIRECTIONS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]

Board = list[list[int]]
Move = tuple[int, int]


def start_board(n: int = 6) -> Board:
    """Standard start: white on the main diagonal of the centre four squares."""
    board = [[EMPTY] * n for _ in range(n)]
    h = n // 2
    board[h - 1][h - 1] = board[h][h] = WHITE
    board[h - 1][h] = board[h][h - 1] = BLACK
    return board


def flips(board: Board, player: int, move: Move) -> list[Move]:
    """Opponent discs turned over if `player` plays `move`; [] if the move is illegal."""
    n = len(board)
    r, c = move
    if board[r][c] != EMPTY:
        return []
    turned = []
    for dr, dc in _DIRECTIONS:
        line = []
        rr, cc = r + dr, c + dc
        while 0 <= rr < n and 0 <= cc < n and board[rr][cc] == -player:
            line.append((rr, cc))
            rr, cc = rr + dr, cc + dc
        if line and 0 <= rr < n and 0 <= cc < n and board[rr][cc] == player:
            turned.extend(line)
    return turned


def legal_moves(board: Board, player: int) -> list[Move]:
    """Squares where `player` flips at least one disc, in index order."""
    n = len(board)
    return [(r, c) for r in range(n) for c in range(n) if flips(board, player, (r, c))]


def is_terminal(board: Board) -> bool:
    return not legal_moves(board, BLACK) and not legal_moves(board, WHITE)


def play(board: Board, player: int, move: Move | None) -> tuple[Board, int]:
    """Play `move` (None = pass) and return (new board, player to move next)."""
    if move is None:
        if legal_moves(board, player) or is_terminal(board):
            raise ValueError("pass is only legal when the player has no move")
        return [row[:] for row in board], -player
    turned = flips(board, player, move)
    if not turned:
        raise ValueError(f"{move} is not a legal move")
    new = [row[:] for row in board]
    r, c = move
    new[r][c] = player
    for rr, cc in turned:
        new[rr][cc] = player
    return new, -player


def score(board: Board, player: int) -> int:
    """Discs of `player` minus discs of the opponent."""
    return sum(cell * player for row in board for cell in row)


def perft(board: Board, player: int, depth: int) -> int:
    """Leaves of the move tree `depth` plies deep (a forced pass is a ply; a finished game
    is a leaf)."""
    if depth == 0:
        return 1
    moves = legal_moves(board, player)
    if not moves:
        if is_terminal(board):
            return 1
        return perft(board, -player, depth - 1)
    return sum(perft(play(board, player, m)[0], -player, depth - 1) for m in moves)


# -- conversion to and from the bitboard engine's (me, opp) integers ---------------------
def from_bitboards(me: int, opp: int, n: int, player: int = BLACK) -> Board:
    """Board where `player` owns the bits of `me` and the opponent those of `opp`."""
    board = [[EMPTY] * n for _ in range(n)]
    for r in range(n):
        for c in range(n):
            if me >> (r * n + c) & 1:
                board[r][c] = player
            elif opp >> (r * n + c) & 1:
                board[r][c] = -player
    return board


def to_bitboards(board: Board, player: int) -> tuple[int, int]:
    """(me, opp) integers of `board` seen from `player`."""
    n = len(board)
    me = opp = 0
    for r in range(n):
        for c in range(n):
            if board[r][c] == player:
                me |= 1 << (r * n + c)
            elif board[r][c] == -player:
                opp |= 1 << (r * n + c)
    return me, opp


def squares_to_mask(squares: list[Move], n: int) -> int:
    mask = 0
    for r, c in squares:
        mask |= 1 << (r * n + c)
    return mask
