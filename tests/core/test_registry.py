"""deepnet.core.registry.Registry: the one source of a kind's names, with did-you-mean."""

import re

import pytest

from deepnet.core.errors import did_you_mean
from deepnet.core.registry import Registry


def sgd():
    return "sgd"


def adam():
    return "adam"


@pytest.fixture
def optimizers():
    return Registry("optimizer", {"sgd": sgd, "adam": adam})


def test_get_and_mapping(optimizers):
    assert optimizers.get("adam") is adam
    assert optimizers["sgd"] is sgd
    assert optimizers.names == ("sgd", "adam")  # registration order
    assert list(optimizers) == ["sgd", "adam"] and len(optimizers) == 2
    assert "adam" in optimizers and "adma" not in optimizers
    assert dict(optimizers) == {"sgd": sgd, "adam": adam}
    assert repr(optimizers) == "Registry('optimizer': sgd, adam)"
    assert len(Registry("metric")) == 0


def test_unknown_name_says_what_was_received_and_what_is_valid(optimizers):
    with pytest.raises(ValueError) as e:
        optimizers.get("adma")
    assert str(e.value) == "unknown optimizer 'adma' (did you mean 'adam'?); valid: sgd, adam"
    with pytest.raises(ValueError) as e:
        optimizers.get("lbfgs")
    assert str(e.value) == "unknown optimizer 'lbfgs'; valid: sgd, adam"
    with pytest.raises(KeyError):
        optimizers["adma"]  # plain mapping access stays a KeyError


@pytest.mark.parametrize("name", [None, 3, ["adam"], {"name": "adam"}])
def test_unknown_values_of_any_type_are_value_errors(optimizers, name):
    with pytest.raises(ValueError, match=rf"unknown optimizer {re.escape(repr(name))}.*valid: sgd, adam"):
        optimizers.get(name)


def test_check_for_validators(optimizers):
    assert optimizers.check("sgd") == "sgd"
    with pytest.raises(ValueError, match="did you mean 'sgd'"):
        optimizers.check("sdg")


def test_register_decorator(optimizers):
    @optimizers.register("rmsprop")
    def rmsprop():
        return "rmsprop"

    assert rmsprop() == "rmsprop"  # the decorated function itself is returned
    assert optimizers.get("rmsprop") is rmsprop
    assert optimizers.names == ("sgd", "adam", "rmsprop")
    with pytest.raises(ValueError, match="optimizer 'adam' is registered twice"):
        optimizers.register("adam")(sgd)
    assert optimizers.get("adam") is adam


def test_items_are_copied():
    items = {"a": 1}
    reg = Registry("thing", items)
    items["b"] = 2
    assert reg.names == ("a",)


def test_did_you_mean():
    assert did_you_mean("transformr", ["dense", "transformer"]) == " (did you mean 'transformer'?)"
    assert did_you_mean("xyz", ["dense", "conv2d"]) == ""
    assert did_you_mean("x", []) == ""
