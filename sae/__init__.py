"""Sparse dictionaries over the agent's activations, and what they mean.

Dictionaries (layer 3 of othello <- alphazero <- dictionaries <- analyses <- vis):
    sae.activations   the activation store, collecting it from real games, training batches
    sae.dictionary    dictionary modules (L1 / TopK / BatchTopK), the one training engine,
                      sweeps, held-out metrics
Analyses (layer 4; they read dictionaries, never the reverse):
    sae.concepts      exact concept labels, AUC, coverage, absorption: the concepts report
    sae.probes        linear probes for every concept family at every site and checkpoint
    sae.steering      editing latents inside the running agent, with controls
    sae.skill         the skill-adaptation study, scored by the exact solver
"""

import common  # noqa: F401  (chooses the OpenMP wait policy before torch loads)
