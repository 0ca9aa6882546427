"""6x6 (and 4..8) Othello: rules engine, concepts, players and an exact solver."""
