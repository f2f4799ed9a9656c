"""The fake ``tensorrt`` of tests/fake_site (see README.md): replaced in ``sys.modules`` by
the fake module of the release that EDGE_FAKE_TRT_VERSION names."""

import sys

import _edge_fake_device

sys.modules[__name__] = _edge_fake_device.install()["tensorrt"]
