"""Train transcoders that replace the agent's MLPs: `python train_transcoder.py --help`.

The command line lives in transcoder/train_cli.py, so that the transcoder package (and
through it common/, which sets OpenMP's wait policy) loads before torch.
"""

from transcoder.train_cli import main

if __name__ == "__main__":
    main()
