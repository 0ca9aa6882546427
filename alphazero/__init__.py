"""AlphaZero agent: hookable residual net, batched MCTS, self-play, training, evaluation."""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
