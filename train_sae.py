"""Train sparse autoencoders on the agent's activations: `python train_sae.py --help`.

The command line lives in sae/train_cli.py; importing sae first lets it set the OpenMP wait
policy before torch loads (see sae/__init__.py).
"""

from sae.train_cli import main

if __name__ == "__main__":
    main()
