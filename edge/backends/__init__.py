"""Backends run the networks on arrays for :mod:`edge.pipeline`: PyTorch (checkpoints)
today; ONNX Runtime and TensorRT arrive with export. Each imports its library lazily."""
