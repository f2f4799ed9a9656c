"""TensorRT engines: version handling (``versions``), identity and the device check
(``identity``), the engine folder (``folder``) and the builder (``builder``). Only the
builder imports tensorrt, inside its functions."""
