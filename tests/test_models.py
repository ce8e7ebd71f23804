import pytest
import torch

from engine.config import recipe_config, validate
from engine.models import MODELS, build_model, describe_models
from engine.recipes import MODEL_NAMES, RECIPES


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_model_maps_a_batch_of_images_to_ten_scores(name):
    model = build_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_registry_describes_every_model_with_its_parameter_count():
    infos = {info.name: info for info in describe_models()}
    assert set(infos) >= {"linear", "mlp", "cnn"}
    assert infos["linear"].parameters == 784 * 10 + 10
    for info in infos.values():
        assert info.description and info.parameters > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_recipe_is_a_valid_config(name):
    config = recipe_config(name)
    validate(config)
    for key, value in RECIPES[name].settings.items():
        assert getattr(config, key) == value


def test_explicit_settings_override_the_recipe_but_none_does_not():
    config = recipe_config("mlp", epochs=1, lr=None)
    assert config.epochs == 1
    assert config.lr == RECIPES["mlp"].settings["lr"]


def test_every_recipe_names_a_model_that_can_be_built():
    assert set(RECIPES) == set(MODELS)
