"""deepnet.core.schema: the one check of a mapping with exactly one key (`one_key`), the
item model made from a registry (`one_of`), registered names and scalar main arguments."""

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from deepnet.core.registry import Registry
from deepnet.core.schema import Section, one_key, one_of, registered

SHAPES = Registry("shape", {"circle": Annotated[float, Field(gt=0)], "square": list[int]})


@pytest.mark.parametrize("value, key", [({"circle": 1.0}, "circle"),
                                        ({"square": [1, 2], "note": "x"}, "square")])
def test_one_key_returns_the_key(value, key):
    assert one_key(value, SHAPES, "`- circle: 1`", also=("note",)) == key


@pytest.mark.parametrize("value, message", [
    ([1], "a shape is a mapping with one of circle, square, e.g. `- circle: 1`; got [1]"),
    ({"circel": 1}, "unknown shape 'circel' (did you mean 'circle'?); valid: circle, square "
                    "(e.g. `- circle: 1`)"),
    ({"circle": 1, "square": [1]}, "each shape is exactly one of circle, square, e.g. "
                                   "`- circle: 1`; got ['circle', 'square']"),
    ({"note": "x"}, "each shape is exactly one of circle, square, e.g. `- circle: 1`; "
                    "got none"),
])
def test_one_key_says_what_is_wrong(value, message):
    with pytest.raises(ValueError) as e:
        one_key(value, SHAPES, "`- circle: 1`", also=("note",))
    assert str(e.value) == message


Shape = one_of("Shape", SHAPES, lambda value_type: value_type, "`- circle: 1`")


class Drawing(BaseModel):
    shapes: list[Shape]


def test_one_of_validates_serialises_and_names_the_kind():
    d = Drawing.model_validate({"shapes": [{"circle": 2}, {"square": [3, 4]}]})
    assert [(s.kind, s.value) for s in d.shapes] == [("circle", 2.0), ("square", [3, 4])]
    assert d.model_dump() == {"shapes": [{"circle": 2.0}, {"square": [3, 4]}]}
    assert Drawing.model_validate(d.model_dump()) == d
    assert list(Shape.model_fields) == ["circle", "square"]  # a field per registered name


def test_one_of_errors_have_the_item_or_value_path():
    with pytest.raises(ValidationError) as e:
        Drawing.model_validate({"shapes": [{"circle": -1}, {"sqare": [1]}, "circle"]})
    errors = {tuple(err["loc"]): err["msg"] for err in e.value.errors()}
    assert any(loc[:3] == ("shapes", 0, "circle") for loc in errors)  # the value's own check
    assert any("did you mean 'square'" in msg for loc, msg in errors.items() if 1 in loc)
    assert any("a shape is a mapping" in msg for loc, msg in errors.items() if 2 in loc)


def test_registered_names_and_main_arguments():
    class Pen(Section):
        main = "shape"
        shape: registered(SHAPES) = "circle"
        width: int = 1

    assert Pen.model_validate("square").shape == "square"  # a scalar alone: the main key
    with pytest.raises(ValidationError, match=r"unknown shape 'sqaure' \(did you mean "
                                              r"'square'\?\); valid: circle, square"):
        Pen(shape="sqaure")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Pen(colour="red")
