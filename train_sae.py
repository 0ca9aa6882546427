"""Train sparse autoencoders on the agent's activations: `python train_sae.py --help`.

The command line lives in sae/train_cli.py, so that the sae package (and through it
common/, which sets OpenMP's wait policy) loads before torch.
"""

from sae.train_cli import main

if __name__ == "__main__":
    main()
