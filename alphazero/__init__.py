"""AlphaZero agent: hookable residual net, batched MCTS, self-play, training, evaluation."""
