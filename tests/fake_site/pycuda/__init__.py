"""The fake ``pycuda`` of tests/fake_site (see README.md): ``pycuda``, ``pycuda.driver`` and
``pycuda.compiler`` are replaced in ``sys.modules`` by the fakes of one fake GPU."""

import sys

import _edge_fake_device

sys.modules[__name__] = _edge_fake_device.install()["pycuda"]
