"""INT8 calibration: calibration-set manifests, Q/DQ graphs for ONNX Runtime and TensorRT,
TensorRT calibration caches, and the accuracy gate."""
