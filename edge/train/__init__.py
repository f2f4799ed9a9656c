"""Training (needs the ``build`` extra): targets, losses, checkpoints and the loop."""
