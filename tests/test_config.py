import math

import pytest

from engine.config import ConfigError, RunConfig, field_errors, validate


def test_defaults_are_valid_and_split_like_the_reference():
    config = RunConfig()
    assert field_errors(config) == {}
    assert (config.train_size, config.val_count()) == (50_000, 10_000)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001, "limit": 1200}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"dataset": "cifar"}, "dataset"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"schedule": "cosine"}, "schedule"),
        ({"val_size": 60_000}, "val_size"),
        ({"limit": 1}, "limit"),
        ({"seed": -1}, "seed"),
    ],
)
def test_each_impossible_value_names_its_field(changes, field):
    errors = field_errors(RunConfig(**changes))
    assert set(errors) == {field}
    assert errors[field]


def test_unknown_model_is_reported_with_the_known_names():
    with pytest.raises(ConfigError) as raised:
        validate(RunConfig(model="resnet"))
    assert "linear, mlp, cnn, best" in raised.value.errors["model"]


def test_limit_scales_the_default_validation_split():
    config = RunConfig(limit=1200)
    assert (config.train_size, config.val_count()) == (1000, 200)
    assert config.val_count(pool=600) == 100


def test_round_trip_through_a_dict_ignores_unknown_keys():
    config = RunConfig(model="mlp", epochs=4, lr=0.01)
    assert RunConfig.from_dict({**config.to_dict(), "from_the_future": 1}) == config
