"""Parameter and multiply-add counts, reported the way the thesis reported them.

Parameters are counted as TensorFlow's profiler counted them for Tables 4.2 and 5.x:
every weight and bias plus four values per batch-norm channel (gamma, beta, moving
mean, moving variance). Multiply-adds are counted for convolutions and transposed
convolutions, on the meta device (shapes only, no arithmetic, instant).
"""

from __future__ import annotations

import torch
from torch import nn

from edge.description import ModelDescription


def count_parameters(module: nn.Module) -> int:
    """Weights + biases + BN moving statistics (TF-style count)."""
    total = sum(p.numel() for p in module.parameters())
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            total += m.running_mean.numel() + m.running_var.numel()
    return int(total)


def _conv_macs(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return out.numel() * (m.in_channels // m.groups) * kh * kw
    if isinstance(m, nn.ConvTranspose2d):
        kh, kw = m.kernel_size
        return inp[0].numel() * (m.out_channels // m.groups) * kh * kw
    return 0


def count_macs(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``module`` on ``inputs`` (any device)."""
    total = 0

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += _conv_macs(m, inp, out)

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def model_macs(desc: ModelDescription) -> dict[str, int]:
    """MACs at ``desc.input_size``: ``network`` (FCN) or ``detector`` + ``branches``
    (one box through each branch; ``per_branch`` by name) for SSD-ISB; ``total`` sums them.

    Builds its own copy of the model on the meta device: no weights, no arithmetic.
    """
    from edge.models.zoo import build_model

    h, w = desc.input_size
    meta = torch.device("meta")
    with meta:
        model = build_model(desc).eval()
    image = torch.zeros(1, 3, h, w, device=meta)
    if desc.task == "semantic":
        n = count_macs(model, image)
        return {"network": n, "total": n}
    det = count_macs(model.detector, image)
    branch_macs = 0
    per_branch: dict[str, int] = {}
    for spec, branch in zip(desc.branches, model.branches):
        crops = []
        for s, c in zip(desc.mask_strides, (model.detector.backbone.channels(s)
                                             for s in desc.mask_strides)):
            k = desc.crop_stride // s
            crops.append(torch.zeros(1, c, spec.shape[0] * k, spec.shape[1] * k, device=meta))
        per_branch[spec.name] = count_macs(branch, *crops)
        branch_macs += per_branch[spec.name]
    return {"detector": det, "branches": branch_macs, "total": det + branch_macs,
            "per_branch": per_branch}
