"""Datasets: the synthetic scene generator and readers for COCO and Cityscapes.

Readers return :class:`~edge.data.samples.InstanceSample` /
:class:`~edge.data.samples.SemanticSample`; training and evaluation consume only those.
"""
