"""The one TensorRT logger of the process, shared by the builder and the runtime.

TensorRT keeps a single logger per process: with a new ``ILogger`` per build, the errors of
a later build can go to an older logger object while an older Runtime lives, and failure
messages ("out of memory") are lost. So there is one
logger, created lazily on first use, forwarding to :mod:`logging` and keeping error lines
for the caller that is collecting them (:meth:`collect`).

TensorRT calls a Python ``ILogger.log`` for every message it emits, VERBOSE included, with
the GIL taken (``PyLogger`` in python/src/infer/pyCore.cpp, release/8.6, 10.3, 11.1), so the
first statement of :meth:`log` is an integer comparison against ``min_severity``: WARNING by
default, INFO under ``-v``, VERBOSE under ``-vv`` (read from this package's logging level
each time :func:`trt_logger` is called). Imports no tensorrt: the caller passes the module.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("edge.engines.tensorrt")

# ILogger.Severity values (include/NvInferRuntimeBase.h, ILogger::Severity, every release)
INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = 0, 1, 2, 3, 4

_LOCK = threading.Lock()
_CURRENT: tuple[Any, Any] | None = None  # (tensorrt module, its logger)


def wanted_severity() -> int:
    """The least severe TensorRT message worth a Python call, from the logging level."""
    if log.isEnabledFor(logging.DEBUG):
        return VERBOSE
    if log.isEnabledFor(logging.INFO):
        return INFO
    return WARNING


def _make(trt: Any) -> Any:
    class EdgeTrtLogger(trt.ILogger):
        """Forwards to ``logging``; keeps ERROR/INTERNAL_ERROR lines for collectors."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.min_severity = WARNING
            self._collectors: list[list[str]] = []
            self._lock = threading.Lock()

        def log(self, severity: Any, msg: str) -> None:  # noqa: A003 (TensorRT's name)
            level = int(severity)
            if level > self.min_severity:
                return
            if level <= ERROR:
                text = str(msg)
                with self._lock:
                    for errors in self._collectors:
                        errors.append(text)
                log.error("TensorRT: %s", text)
            elif level == WARNING:
                log.warning("TensorRT: %s", msg)
            elif level == INFO:
                log.info("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

        @contextlib.contextmanager
        def collect(self) -> Iterator[list[str]]:
            """The error lines logged while the block runs (one build, one deserialise)."""
            errors: list[str] = []
            with self._lock:
                self._collectors.append(errors)
            try:
                yield errors
            finally:
                with self._lock:
                    self._collectors.remove(errors)

    return EdgeTrtLogger()


def trt_logger(trt: Any) -> Any:
    """The process's TensorRT logger (made on first call); pass it to every ``Builder``,
    ``OnnxParser`` and ``Runtime``. Refreshes its minimum severity from logging."""
    global _CURRENT
    with _LOCK:
        if _CURRENT is None or _CURRENT[0] is not trt:  # one tensorrt module per process
            _CURRENT = (trt, _make(trt))
        logger = _CURRENT[1]
    logger.min_severity = wanted_severity()
    return logger
