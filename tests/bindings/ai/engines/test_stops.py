import pytest

from bindings.ai.engines.stops import StopMatcher


@pytest.mark.parametrize(
    ("chunks", "stops", "expected"),
    [
        (["Hello wor", "ld. Bye"], ["world"], "Hello "),
        (["a <", "|end", "|> b"], ["<|end|>"], "a "),
        (["a <", "b"], ["<|end|>"], "a <b"),
        (["tail <"], ["<|end|>"], "tail <"),
        (["no stop"], [], "no stop"),
        (["xSTOPy", "more"], ["STOP", "xS"], ""),
    ],
)
def test_stop_matcher_cuts_across_chunks_and_holds_back_only_prefixes(chunks, stops, expected):
    matcher = StopMatcher(stops)
    out = []
    for chunk in chunks:
        text, stopped = matcher.feed(chunk)
        out.append(text)
        if stopped:
            break
    else:
        out.append(matcher.flush())
    assert "".join(out) == expected


def test_flush_releases_held_back_text_and_later_chunks_can_still_stop():
    matcher = StopMatcher(["</s>"])
    assert matcher.feed("Hello <") == ("Hello ", False)
    assert matcher.feed("/") == ("", False)
    assert matcher.feed("x") == ("</x", False)
    assert matcher.feed("ok</s>more") == ("ok", True)


def test_flush_cuts_a_whole_reply_at_the_earliest_stop():
    assert StopMatcher(["c", "b"]).flush("aabbcc") == "aa"
    assert StopMatcher(["zz"]).flush("no stop z") == "no stop z"  # nothing held back
    assert StopMatcher([]).flush("anything") == "anything"
