"""The model description: validation and lossless serialisation."""

from __future__ import annotations

import pytest

from edge import catalog
from edge.description import BranchSpec, ModelDescription
from edge.errors import ConfigError


@pytest.mark.parametrize("name", catalog.model_names())
def test_json_round_trip_is_lossless(name: str) -> None:
    desc = catalog.describe(name)
    again = ModelDescription.from_json(desc.to_json())
    assert again == desc
    assert again.to_json() == desc.to_json()


def test_round_trip_keeps_options() -> None:
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.75, isb_skip="fcn16",
                            class_names=("person", "car"), input_size=(480, 640), max_boxes=7)
    again = ModelDescription.from_json(desc.to_json())
    assert again == desc
    assert again.mask_shape(again.branches[0]) == (30, 20)  # 15x10 cells, one skip step
    assert all(b.max_boxes == 7 for b in again.branches)


@pytest.mark.parametrize("size", [(640, 630), (0, 640), (100, 100)])
def test_input_size_must_be_multiple_of_stride(size: tuple[int, int]) -> None:
    with pytest.raises(ConfigError, match="multiples of 32"):
        catalog.describe("ssd-isb-single-branch", input_size=size)


def test_squeezenet_accepts_stride_16_multiples() -> None:
    assert catalog.describe("squeezenet-fcn8s", input_size=(48, 80)).input_size == (48, 80)
    with pytest.raises(ConfigError, match="multiples of 32"):
        catalog.describe("mobilenet-fcn8", input_size=(48, 80))


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="ssd-isb-multi-shape"):
        catalog.describe("ssd-isb-everything")


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="depth multiplier"):
        catalog.describe("mobilenet-fcn8", alpha=0.6)
    with pytest.raises(ConfigError, match="no depth multiplier"):
        catalog.describe("squeezenet-fcn8s", alpha=0.5)
    with pytest.raises(ConfigError, match="class names"):
        catalog.describe("mobilenet-fcn8", class_names=("a", "b"), num_classes=3)
    with pytest.raises(ConfigError, match="at least 1x1"):
        BranchSpec(shape=(0, 3), mode="exact", max_boxes=1)


def test_other_schema_version_is_refused() -> None:
    d = catalog.describe("mobilenet-fcn8").to_dict()
    d["schema_version"] = 99
    with pytest.raises(ConfigError, match="re-export"):
        ModelDescription.from_dict(d, source="model.onnx")


def test_malformed_json_names_its_source() -> None:
    with pytest.raises(ConfigError, match="manifest.json"):
        ModelDescription.from_json("{nope", source="manifest.json")


def test_defaults_follow_the_thesis() -> None:
    sem = catalog.describe("mobilenet-fcn8")
    assert sem.alpha == 0.5 and sem.num_classes == 19 and sem.skip_strides == (16, 8)
    inst = catalog.describe("ssd-isb-single-branch")
    assert inst.alpha == 1.0 and inst.class_names == ("person",) and inst.input_size == (640, 640)
    assert inst.branches[0].max_boxes == 100
    assert all(b.max_boxes == 30 for b in catalog.describe("ssd-isb-multi-shape").branches)
    assert inst.box_coder_weights == (10.0, 10.0, 5.0, 5.0)
