"""Train sparse autoencoders on the agent's activations: `python train_sae.py --help`.

The command line lives in sae/dictionary/cli.py (this file stays a thin entry point).
"""

from sae.dictionary.cli import main

if __name__ == "__main__":
    main()
