"""Model knowledge costs: input validation, chat templates, catalogue loading.

    .venv/bin/python bench/bench_validation.py [--calls 20000]

Prints per-call times for `validate_inputs` on valid inputs (the hot path, recognised by
`jsonschema_rs`) against the baseline measured in the same run, plain `jsonschema`
`iter_errors` on the same input and schema; for an invalid input (Python `jsonschema`
plus the Cloudflare-style message); for rendering Llama-2, ChatML and a Jinja template;
and for `load_catalogue()`. Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

from jsonschema import Draft202012Validator

from bindings.ai.catalogue import load_catalogue
from bindings.ai.chat_templates import get_format, jinja_format
from bindings.ai.errors import AiError
from bindings.ai.validation import validate_inputs

MESSAGES = [
    {"role": "system", "content": "You are a friendly assistant"},
    {"role": "user", "content": "What is the origin of the phrase Hello, World"},
]
CHATML_JINJA = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Microseconds per call (best of 3 runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    calls = args.calls

    catalogue = load_catalogue()
    entry = catalogue.get("@cf/meta/llama-2-7b-chat-fp16")
    valid = {"messages": MESSAGES, "max_tokens": 128, "temperature": 0.7}
    invalid = {"messages": [{"role": "user"}], "temperature": 9}
    reference = Draft202012Validator(entry.input_schema)

    def bad() -> None:
        with contextlib.suppress(AiError):
            validate_inputs(entry, invalid)

    baseline = per_call(lambda: list(reference.iter_errors(valid)), calls // 10)
    ours = per_call(lambda: validate_inputs(entry, valid), calls)
    print(f"validate_inputs, valid messages:   {ours:8.2f} µs/call")
    print(f"  baseline jsonschema iter_errors: {baseline:8.2f} µs/call "
          f"(ours is {baseline / ours:.1f}x faster)")
    print(f"validate_inputs, invalid (5006):   {per_call(bad, calls // 10):8.2f} µs/call")

    for name, fmt in (("llama2", get_format("llama2")), ("chatml", get_format("chatml")),
                      ("jinja chatml", jinja_format(CHATML_JINJA))):
        cost = per_call(lambda f=fmt: f.render(MESSAGES), calls)
        print(f"render {name:<12} (2 messages):  {cost:8.2f} µs/call")

    print(f"load_catalogue():                  {per_call(load_catalogue, 50) / 1000:8.2f} ms/call")


if __name__ == "__main__":
    main()
