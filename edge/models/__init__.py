"""PyTorch model zoo (needs the ``build`` extra).

Importing any ``edge.models`` module without PyTorch raises a one-line
:class:`~edge.errors.MissingDependencyError` saying how to install it. Import the
submodules explicitly, e.g. ``from edge.models.zoo import create``.
"""

from edge.optional import require

require("torch", "the PyTorch model zoo (edge.models)")
