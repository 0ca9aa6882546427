"""AlphaZero agent: hookable residual net, batched MCTS, self-play, training, evaluation."""

import common  # noqa: F401  (sets OpenMP's wait policy before torch loads)
