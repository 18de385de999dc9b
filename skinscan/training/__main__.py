"""``python -m skinscan.training train RECIPE``: the training commands, for ``torchrun``."""

from skinscan.training.cli import main

if __name__ == "__main__":
    main()
