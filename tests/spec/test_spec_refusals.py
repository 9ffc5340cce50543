"""What the spec refuses before anything runs (issue 13): a name that is not one folder
name, non-finite numbers in any section, integers no setting can take, nesting deep
enough to exhaust Python's stack, duplicate YAML keys; and `Spec.coerce`, the one way the
Python API takes a spec."""

import math
import sys

import pytest
import yaml

from deepnet import Spec, SpecError
from deepnet.spec.loading import MAX_DEPTH, load_yaml
from deepnet.spec.models import MAX_INT
from factory import mlp_spec, write_spec


def _refused(raw, *overrides) -> SpecError:
    with pytest.raises(SpecError) as e:
        Spec.from_dict(raw, overrides)
    return e.value


# ----------------------------------------------------------------------------- item 1
@pytest.mark.parametrize("name", [
    "../../escaped", "..", ".", "/abs/path", "a/b", "a\\b", "", "   ", "a\x00b", "a\nb",
    "tab\there", "del\x7f", "a\ud800", "-rf", "x" * 201, "é" * 101,
])
def test_a_name_that_is_not_one_folder_name_is_refused(name):
    e = _refused(mlp_spec(name=name))
    text = str(e)
    assert "\n  name: the name is a folder's (runs/<name>-<time>, tunes/<name>)" in text
    assert f"got {name!r}" in text
    assert "not empty, '.' or '..', without '/', '\\' or control characters" in text


@pytest.mark.parametrize("name", ["digits-cnn", "t", "my run 2", "exp.v2", "..x", "a_b+c",
                                  "ÿé", "x" * 200])
def test_names_that_are_one_folder_name_pass(name):
    assert Spec.from_dict(mlp_spec(name=name)).name == name


@pytest.mark.parametrize("value", ["../../escaped", "/abs/path", "a\\\\b"])
def test_an_unsafe_name_by_set_is_refused_at_name(value):
    e = _refused(mlp_spec(), f"name={value}")
    assert "\n  name: the name is a folder's" in str(e)


# ----------------------------------------------------------------------------- item 8
@pytest.mark.parametrize("text, shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"),
                                         ("inf", "'inf'"), ("1e999", "'1e999'")])
@pytest.mark.parametrize("path", [
    "train.optimizer.lr", "train.optimizer.weight_decay", "train.l1", "train.clip_grad_norm",
    "train.early_stopping.min_delta", "data.split.val", "model.layers[1].dense.units",
    "model.layers[2].dropout.rate", "robust.defense.adversarial_training.eps",
    "train.loss.class_weights[0]",
])
def test_every_float_field_refuses_non_finite_values(path, text, shown):
    raw = mlp_spec(**{"model.layers[2]": {"dropout": 0.5},
                      "train.loss": {"name": "cross_entropy", "class_weights": [1.0] * 10}})
    e = _refused(raw, f"{path}={text}")
    assert f"\n  {path}" in str(e), str(e)
    assert shown in str(e)


def test_non_finite_in_lists_of_attacks_and_the_tune_space():
    e = _refused(mlp_spec(robust={"attacks": [{"pgd": {"eps": math.inf}}]},
                          tune={"space": {"train.optimizer.lr": {"uniform": [0, math.nan]}}}))
    text = str(e)
    assert "2 problems in the spec" in text
    assert "robust.attacks[0].pgd.eps: input should be a finite number; got inf" in text
    assert ("tune.space.train.optimizer.lr.uniform[1]: input should be a finite number; "
            "got nan") in text


@pytest.mark.parametrize("value", [2**32, 2**40])
def test_seed_beyond_32_bits_is_refused(value):
    e = _refused(mlp_spec(seed=value))
    assert f"seed: input should be less than or equal to {2**32 - 1}; got {value}" in str(e)


def test_the_largest_seed_passes():
    assert Spec.from_dict(mlp_spec(seed=2**32 - 1)).seed == 2**32 - 1


@pytest.mark.parametrize("path", ["seed", "train.epochs", "train.batch_size",
                                  "model.layers[1].dense.units"])
@pytest.mark.parametrize("value", [MAX_INT + 1, 10**30, -(10**30)])
def test_integers_beyond_64_bits_are_refused_at_their_path(path, value):
    e = _refused(mlp_spec(), f"{path}={value}")
    assert e.path == path
    assert str(e) == (f"--set {path}={value}: {path}: the integer {value} is out of range: "
                      f"no setting takes one beyond 64 bits (±{MAX_INT})")


def test_an_integer_beyond_64_bits_in_the_spec_data_is_refused():
    raw = mlp_spec()
    raw["train"]["epochs"] = 10**30
    e = _refused(raw)
    assert str(e).startswith(f"spec: train.epochs: the integer {10**30} is out of range")


def test_a_64_bit_integer_is_left_to_its_field():
    e = _refused(mlp_spec(), f"train.epochs={-MAX_INT}")
    assert "train.epochs: input should be greater than 0" in str(e)


# ----------------------------------------------------------------------------- item 12
def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_deep_nesting_in_yaml_is_refused_at_its_line_and_column(tmp_path):
    text = yaml.safe_dump(mlp_spec()).replace("name: t", "name: " + "[" * 3000 + "]" * 3000)
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as e:
        Spec.from_yaml(path)
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("name")))
    # the top mapping is level 1, `name`'s value level 2: its 63rd bracket is level 65
    assert str(e.value) == (f"{path}: invalid YAML at line {line + 1}, column {6 + 63 + 1}: "
                            f"nested deeper than {MAX_DEPTH} levels")


def test_deep_nesting_by_set_is_refused():
    with pytest.raises(SpecError, match=r"^--set name: invalid YAML at line 1, column 65: "
                                        r"nested deeper than 64 levels$"):
        Spec.from_dict(mlp_spec(), ["name=" + "[" * 3000 + "]" * 3000])


def test_block_style_nesting_is_refused_too():
    text = "".join("  " * i + "a:\n" for i in range(200))
    with pytest.raises(SpecError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_yaml(text, "s.yaml")


def test_nesting_up_to_the_limit_loads():
    # the top mapping (1), `a` (2), then MAX_DEPTH - 2 lists, the innermost holding a 1
    text = "a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    assert load_yaml(text, "s.yaml") == {"a": _nested(MAX_DEPTH - 2)}
    with pytest.raises(SpecError, match="nested deeper"):
        load_yaml("a: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1), "s.yaml")


@pytest.mark.parametrize("depth", [MAX_DEPTH, 3000, 10 * sys.getrecursionlimit()])
def test_deep_python_data_is_refused_without_recursion(depth):
    raw = mlp_spec()
    raw["name"] = _nested(depth)
    e = _refused(raw)
    assert str(e) == f"spec: name: nested deeper than {MAX_DEPTH} levels"
    assert e.path == "name"


def test_deep_data_by_changes_is_refused():
    with pytest.raises(SpecError, match=f"^tune trial: data.features: nested deeper than "
                                        f"{MAX_DEPTH} levels$"):
        Spec.from_dict(mlp_spec(), changes={"data.features": _nested(3000)},
                       source="tune trial")


def test_data_that_contains_itself_is_refused():
    raw = mlp_spec()
    raw["name"] = []
    raw["name"].append(raw["name"])
    assert str(_refused(raw)) == (
        f"spec: name: nested deeper than {MAX_DEPTH} levels")
    text = yaml.safe_dump(mlp_spec()).replace("name: t", "name: &a [*a]")
    with pytest.raises(SpecError, match=f"name: nested deeper than {MAX_DEPTH} levels"):
        Spec.from_dict(load_yaml(text, "s.yaml"))


def test_aliases_that_repeat_a_part_exponentially_are_refused():
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    raw = mlp_spec() | load_yaml("\n".join(lines), "s.yaml")  # 10**8 values, shared
    with pytest.raises(SpecError, match=r"^spec: more than 1,000,000 values in the spec"):
        Spec.from_dict(raw)


# ----------------------------------------------------------------------------- item 14
@pytest.mark.parametrize("text, line, column, key, first", [
    ("name: a\nseed: 1\nname: b\n", 3, 1, "'name'", 1),
    ("train:\n  epochs: 1\n  batch_size: 2\n  epochs: 5\n", 4, 3, "'epochs'", 2),
    ("train: {epochs: 1, epochs: 2}\n", 1, 20, "'epochs'", 1),
    ("model:\n  layers:\n    - dense: {units: 3, units: 4}\n", 3, 25, "'units'", 3),
    ("1: a\n1.0: b\n", 2, 1, "1.0", 1),
])
def test_a_duplicate_key_is_refused_naming_it_and_both_lines(text, line, column, key, first):
    with pytest.raises(SpecError) as e:
        load_yaml(text, "s.yaml")
    assert str(e.value) == (f"s.yaml: invalid YAML at line {line}, column {column}: duplicate "
                            f"key {key} (first given at line {first}); give each key once")


def test_a_duplicate_key_in_a_spec_file_is_refused(tmp_path):
    path = write_spec(tmp_path / "s.yaml", mlp_spec())
    path.write_text(path.read_text() + "seed: 3\n")
    with pytest.raises(SpecError, match=r"s\.yaml: invalid YAML at line \d+, column 1: "
                                        r"duplicate key 'seed' \(first given at line 2\)"):
        Spec.from_yaml(path)


def test_merge_keys_may_be_overridden_and_equal_keys_apart_are_fine():
    text = "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\nd: {x: 1}\n"
    assert load_yaml(text, "s.yaml") == {"base": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2},
                                         "d": {"x": 1}}


def test_still_safe_and_still_reports_syntax_errors():
    with pytest.raises(SpecError, match="line 1, column 7: could not determine a constructor"):
        load_yaml("name: !!python/object:os.system x\n", "s.yaml")
    with pytest.raises(SpecError, match="s.yaml: invalid YAML at line 2"):
        load_yaml("a: [1\nb: 2\n", "s.yaml")


# ----------------------------------------------------------------------------- item 13
def test_coerce_takes_a_spec_a_mapping_or_a_yaml_path(tmp_path):
    raw = mlp_spec(name="coerced")
    spec = Spec.from_dict(raw)
    path = write_spec(tmp_path / "s.yaml", raw)
    assert Spec.coerce(spec) is spec
    assert Spec.coerce(raw) == spec
    assert Spec.coerce(path) == spec
    assert Spec.coerce(str(path)) == spec
    assert raw == mlp_spec(name="coerced")  # the caller's dict is not changed


@pytest.mark.parametrize("value, shown", [(None, "NoneType None"), (42, "int 42"),
                                          ([1, 2], "list [1, 2]"), (b"x", "bytes b'x'")])
def test_coerce_refuses_anything_else_with_a_spec_error(value, shown):
    with pytest.raises(SpecError) as e:
        Spec.coerce(value)
    assert str(e.value) == ("spec: expected a deepnet.Spec, a dict of one or the path of a YAML "
                            f"spec file; got {shown}")


def test_coerce_of_a_missing_file_or_a_bad_dict_names_it(tmp_path):
    with pytest.raises(SpecError, match="spec file '.*nope.yaml' not found"):
        Spec.coerce(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=r"^spec: 1 problem in the spec:\n  model: required"):
        Spec.coerce({"data": {"source": "digits"}})
