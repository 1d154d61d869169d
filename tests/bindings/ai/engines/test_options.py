import importlib

import pytest

from bindings.ai.engines import ENGINES, checked_options
from bindings.ai.engines.options import Option, check_options


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_declares_its_options_and_capabilities(engine):
    module = importlib.import_module(ENGINES[engine])
    assert module.CAPABILITIES and isinstance(module.OPTIONS, dict)
    assert all(isinstance(option, Option) for option in module.OPTIONS.values())


@pytest.mark.parametrize(
    ("option", "given", "value"),
    [
        (Option("int", minimum=1), "8", 8),
        (Option("int"), 8, 8),
        (Option("float"), "0.5", 0.5),
        (Option("float"), 2, 2.0),
        (Option("bool"), True, True),  # a bare word in a spec
        (Option("bool"), "off", False),
        (Option("str"), " spaced ", " spaced "),  # free text stays as written
        (Option("str", repeat=True), "one", ["one"]),
        (Option("str", repeat=True), ["a", "b"], ["a", "b"]),
        (Option("table"), {"cf": "adapter"}, {"cf": "adapter"}),
    ],
)
def test_values_are_converted_to_the_declared_kind(option, given, value):
    assert option.convert("x", given) == value


@pytest.mark.parametrize(
    ("option", "given", "problem"),
    [
        (Option("int", minimum=1), "0", "option x must be an integer >= 1, not '0'"),
        (Option("int"), 2.5, "option x must be an integer, not 2.5"),
        (Option("int"), False, "option x must be an integer, not False"),
        (Option("float"), "soon", "option x must be a number, not 'soon'"),
        (Option("float"), True, "option x needs a value: x=<a number>"),
        (Option("bool"), "maybe", "option x must be true or false, not 'maybe'"),
        (Option("str"), 5, "option x must be a string, not 5"),
        (Option("table"), {"a": 1}, "option x must be a table of names to names"),
        (Option("int"), ["1", "2"], "option x takes one value (an integer), not ['1', '2']"),
    ],
)
def test_anything_else_says_what_the_option_takes(option, given, problem):
    with pytest.raises(ValueError) as info:
        option.convert("x", given)
    assert str(info.value).startswith(problem)


def test_unknown_options_and_engines_name_what_is_accepted():
    with pytest.raises(ValueError, match=r"^e has no option 'x' \(e takes no options\)$"):
        check_options("e", {}, {"x": 1})
    with pytest.raises(ValueError, match=r"unknown AI engine 'warp' \(known: encoder, llamacpp, "):
        checked_options("warp", {})
    assert checked_options("tgi", {"timeout": "5"}) == {"timeout": 5.0}
