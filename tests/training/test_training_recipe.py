"""Recipes: the shipped files parse, overrides apply, unknown keys are errors naming their path."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch

from skinscan.training._setup import build_network, lr_factor, model_kwargs
from skinscan.training.recipe import Recipe, RecipeError

RECIPES = sorted((Path(__file__).parents[2] / "training").glob("*.yaml"))


def _minimal(**changes: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "name": "t",
        "task": "segmentation",
        "model": {"arch": "unet"},
        "data": {"train": "set/manifest.jsonl"},
        "optim": {"steps": 10},
    }
    recipe.update(changes)
    return recipe


def test_the_shipped_recipes_parse() -> None:
    names = {path.name for path in RECIPES}
    assert {
        "segmenter-phantom.yaml",
        "segmenter-ffhq-wrinkle.yaml",
        "severity-phantom.yaml",
        "acne04-severity.yaml",
    } <= names
    for path in RECIPES:
        recipe = Recipe.from_yaml(path)
        assert recipe.data.train.manifest, path
        model_kwargs(recipe)  # the model kwargs fit the data (channels, planes, heads)
        if recipe.model.kwargs["backbone"] == "mobilenet_v3_small":
            build_network(recipe)
    default = Recipe.from_yaml(Path(RECIPES[0]).parent / "segmenter-phantom.yaml")
    assert default.bundle_name == "skinscan-segmenter"
    assert model_kwargs(default)["in_channels"] == 4
    assert default.data.size == 256
    assert default.model.kwargs["backbone"] == "mobilenet_v3_small"


def test_defaults_and_round_trip() -> None:
    recipe = Recipe.from_dict(_minimal())
    assert recipe.precision == "auto"
    assert recipe.channels_last
    assert not recipe.compile
    assert recipe.output_dir == Path("runs") / "t"
    assert recipe.data.train.manifest == [Path("set/manifest.jsonl")]
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_overrides_are_read_as_yaml_values() -> None:
    recipe = Recipe.from_dict(
        _minimal(),
        overrides=[
            "optim.lr=0.01",
            "optim.batch_size=32",
            "compile=true",
            "loss.pos_weight.wrinkles=20",
            "data.train=[a.jsonl, b.jsonl]",
            "output=elsewhere",
        ],
    )
    assert recipe.optim.lr == 0.01
    assert recipe.optim.batch_size == 32
    assert recipe.compile
    assert recipe.loss.pos_weight == {"wrinkles": 20.0}
    assert recipe.data.train.manifest == [Path("a.jsonl"), Path("b.jsonl")]
    assert recipe.output_dir == Path("elsewhere")
    # A phantom source replaces a manifest.
    phantom = Recipe.from_dict(_minimal(), overrides=["data.train={phantom: {n: 4}}"])
    assert phantom.data.train.phantom is not None
    assert phantom.data.train.manifest is None


@pytest.mark.parametrize(
    ("changes", "overrides", "message"),
    [
        ({}, ["optim.lrr=1"], "unknown key optim.lrr"),
        ({}, ["colour=red"], "unknown key colour"),
        (
            {"data": {"train": {"phantom": {"n": 4, "siz": 8}}}},
            [],
            "unknown key data.train.phantom.siz",
        ),
        ({"model": {"arch": "unet", "kwarg": {}}}, [], "unknown key model.kwarg"),
        ({"optim": {}}, [], "exactly one of optim.epochs and optim.steps"),
        ({"optim": {"steps": 2, "epochs": 3}}, [], "exactly one of optim.epochs and optim.steps"),
        ({}, ["optim.lr=-1"], "optim.lr"),
        ({}, ["precision=fp16"], "precision"),
        ({}, ["loss.pos_weight.moles=2"], "loss.pos_weight names unknown masks ['moles']"),
        ({}, ["data.heads=[redness, redness]"], "data.heads must be distinct identifiers"),
        ({}, ["data.grade_scales.acne=4"], "data.grade_scales names unknown heads ['acne']"),
        ({"data": {"train": {"phantom": {"n": 4, "size": 32}}}}, [], "phantom.size 32 differs"),
        (
            {"data": {"train": {"manifest": "a", "phantom": {"n": 4}}}},
            [],
            "exactly one of manifest",
        ),
    ],
)
def test_bad_recipes_say_what_is_wrong(
    changes: dict[str, Any], overrides: list[str], message: str
) -> None:
    with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Recipe.from_dict(_minimal(**changes), overrides=overrides)


def test_missing_keys_and_bad_overrides() -> None:
    data = _minimal()
    del data["model"]
    with pytest.raises(RecipeError, match="missing key model"):
        Recipe.from_dict(data)
    with pytest.raises(RecipeError, match=r"key\.path=value"):
        Recipe.from_dict(_minimal(), overrides=["optim.lr"])
    with pytest.raises(RecipeError, match=r"optim\.steps is a value, not a section"):
        Recipe.from_dict(_minimal(), overrides=["optim.steps.x=1"])
    with pytest.raises(RecipeError, match=r"optim\.lr: Input should be a valid number"):
        Recipe.from_dict(_minimal(), overrides=["optim.lr.x=1"])


def test_yaml_files(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: t\ntask: severity\nmodel: {arch: severity}\n"
        "data: {train: m.jsonl}\noptim: {epochs: 2}\n",
        encoding="utf-8",
    )
    recipe = Recipe.from_yaml(path, ["seed=7"])
    assert recipe.seed == 7
    assert recipe.total_steps(batches_per_epoch=5) == 10
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="a recipe is a mapping"):
        Recipe.from_yaml(path)
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="not valid YAML"):
        Recipe.from_yaml(path)
    with pytest.raises(RecipeError, match="cannot read the recipe"):
        Recipe.from_yaml(tmp_path / "missing.yaml")


def test_model_kwargs_follow_the_data_or_refuse_it() -> None:
    recipe = Recipe.from_dict(_minimal(), overrides=["data.texture=true"])
    assert model_kwargs(recipe) == {"in_channels": 4, "num_classes": 2}
    severity = Recipe.from_dict(
        _minimal(task="severity", model={"arch": "severity"}), overrides=["data.heads=[acne]"]
    )
    assert model_kwargs(severity)["heads"] == ["acne"]
    clash = Recipe.from_dict(
        _minimal(), overrides=["data.texture=true", "model.kwargs.in_channels=3"]
    )
    with pytest.raises(RecipeError, match=r"model\.kwargs\.in_channels is 3 but the data need 4"):
        model_kwargs(clash)
    with pytest.raises(RecipeError, match="model:"):
        build_network(Recipe.from_dict(_minimal(), overrides=["model.kwargs.backbone=vgg99"]))


def test_model_init_loads_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    recipe = Recipe.from_dict(_minimal(), overrides=["model.kwargs.backbone=mobilenet_v3_small"])
    torch.manual_seed(5)
    source = build_network(recipe)
    save_file(source.state_dict(), str(tmp_path / "weights.safetensors"))
    torch.manual_seed(6)
    loaded = build_network(
        recipe.model_copy(update={"model": recipe.model.model_copy(update={"init": tmp_path})})
    )
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    other = Recipe.from_dict(
        _minimal(), overrides=["model.kwargs.backbone=resnet18", f"model.init={tmp_path}"]
    )
    with pytest.raises(RecipeError, match="does not fit the model"):
        build_network(other)


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    factors = [lr_factor(s, total=100, warmup=10, schedule="cosine", floor=0.1) for s in range(101)]
    assert factors[0] == pytest.approx(1 / 11)
    assert all(a < b for a, b in itertools.pairwise(factors[:11]))  # rising
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))  # falling
    assert factors[55] == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert factors[100] == pytest.approx(0.1)
    assert lr_factor(50, total=100, warmup=10, schedule="constant", floor=0.1) == 1.0
