"""deepnet.core.errors: a pass of checks gathers its problems and raises one error that
lists them all; errors carry the spec path they are at."""

import pytest

from deepnet.core.errors import DataError, Problems, SpecError, listing


def test_listing_counts_and_indents():
    assert listing(["a: x"], "in the spec") == "1 problem in the spec:\n  a: x"
    assert listing(["a: x", "b: y\n  c: z"], "here") == \
        "2 problems here:\n  a: x\n  b: y\n    c: z"


def test_problems_raise_one_error_listing_all():
    p = Problems()
    p.raise_all("in the spec")  # nothing found: nothing raised
    p.add("train.metrics[0]", "r2 is a regression metric")
    with p.gather():
        raise DataError("iris: token ids need an embedding", path="model.layers[0]")
    with p.gather():
        pass
    assert [e.path for e in p.errors] == ["train.metrics[0]", "model.layers[0]"]
    with pytest.raises(SpecError) as e:  # one of them is the spec's: a SpecError
        p.raise_all("in the spec for the data 'iris'")
    assert str(e.value) == ("2 problems in the spec for the data 'iris':\n"
                            "  train.metrics[0]: r2 is a regression metric\n"
                            "  iris: token ids need an embedding")
    assert not isinstance(e.value, DataError) and e.value.path is None


def test_only_data_problems_raise_a_data_error_with_the_path():
    p = Problems()
    p.add("model.layers[0]", "the data do not fit", kind=DataError)
    with pytest.raises(DataError) as e:
        p.raise_all("in the spec")
    assert e.value.path == "model.layers[0]"
    with pytest.raises(ValueError):  # other exceptions are not problems of the input
        with p.gather():
            raise ValueError("a bug")
