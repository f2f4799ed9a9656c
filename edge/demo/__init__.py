"""The shipped demo model: ``ssd-isb-demo.npz`` (weights and description, torch-free to
read), addressable as ``demo`` in every command. ``tools/train_demo.sh`` reproduces it;
``docs/demo-model.md`` records its recipe and metrics."""
