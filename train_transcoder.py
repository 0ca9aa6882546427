"""Train transcoders that replace the agent's MLPs: `python train_transcoder.py --help`.

The command line lives in transcoder/train_cli.py (this file stays a thin entry point).
"""

from transcoder.train_cli import main

if __name__ == "__main__":
    main()
