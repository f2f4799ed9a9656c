"""Export to ONNX (needs the ``build`` extra), the export manifest, parity checks against
PyTorch and the TensorRT ONNX-parser compatibility check."""
