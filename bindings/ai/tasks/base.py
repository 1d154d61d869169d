"""The pieces of the task contract (see `bindings.ai.tasks`): `Task`, and the page and CLI
values a task hands out. The defaults here serve a JSON-in, JSON-or-bytes-out task that
calls `Engine.infer`; Text Generation overrides most of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bindings.ai.binary import AiBinary
from bindings.ai.engines.base import TaskRequest
from emulator.sdk.attrdict import unwrap, wrap


@dataclass(frozen=True)
class Snippet:
    """One usage snippet of a model page."""

    key: str  # stable id (tests and anchors)
    title: str
    language: str
    code: str
    note: str = ""


@dataclass(frozen=True)
class Playground:
    """A model page's playground: a template under `bindings/ai/rest/templates/`, rendered
    with `context` plus the page's own (`model`, `run_url`, `needs_token`, `base_url`)."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CliFlag:
    """One `edge ai run` option: a str, int or float value, or an on/off `is_flag`.

    `kind` "json" takes JSON text (`@FILE` reads a file, `-` stdin) and hands over the
    decoded value; "file" takes a path and hands over the file's bytes (`-`: stdin's).
    """

    name: str  # "--max-tokens"
    help: str
    type: type = str
    is_flag: bool = False
    kind: str = "value"  # "value", "json" or "file"
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The key its value has in `cli_inputs(values)` (`--max-tokens` -> `max_tokens`)."""
        return self.name.lstrip("-").replace("-", "_")


#: flags several tasks take (one definition, so they mean the same everywhere).
TEXT_FLAG = CliFlag("--text", "The input text (to read aloud, translate, classify...).")
IMAGE_FLAG = CliFlag("--image", "An image file; '-' reads stdin.", kind="file", metavar="FILE")
AUDIO_FLAG = CliFlag("--audio", "An audio file; '-' reads stdin.", kind="file", metavar="FILE")


class CliInputError(ValueError):
    """Flags that make no valid input; `edge ai run` shows it as a usage error."""


def best_first(items: list[Any]) -> Any:
    """Scored results (`[{"label", "score"}, ...]`) sorted as Cloudflare returns them."""
    return wrap(sorted(items, key=lambda item: -float(item.get("score", 0))))


class Task:
    """A task kind (see `bindings.ai.tasks` for what each member is for)."""

    name: ClassVar[str] = ""
    capability: ClassVar[str] = ""
    #: the engine serving this task's models when only the default route matches them.
    default_engine: ClassVar[str | None] = None
    cli_flags: ClassVar[tuple[CliFlag, ...]] = ()
    #: the input the bytes go to when a model is given bytes alone (the REST run
    #: endpoint's binary body, `env.AI.run(model, data)`), e.g. "audio"; None: no such form.
    binary_input: ClassVar[str | None] = None
    #: `cli_inputs` refuses inputs holding none of these keys (a usage error).
    cli_needs: ClassVar[tuple[str, ...]] = ()

    def prepare(self, entry: Any, route: Any, engine: Any) -> Any:
        return None

    def extra_inputs(self, entry: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs beyond the published schema that this model's API takes, checked here
        (5006 on a bad one); the service keeps them next to the validated ones."""
        return {}

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> Any:
        return TaskRequest(model=entry.name, capability=self.capability, inputs=inputs)

    async def run(self, entry: Any, engine: Any, request: Any) -> Any:
        return self.shape(entry, await engine.infer(request))

    def shape(self, entry: Any, output: Any) -> Any:
        """Bytes become an `AiBinary` of the output schema's type; JSON is wrapped."""
        if isinstance(output, bytes | bytearray | memoryview):
            return AiBinary(bytes(output), entry.binary_output() or "application/octet-stream")
        return wrap(output)

    def sample(self, request: Any, text: str | None) -> Any:
        raise NotImplementedError(f"{self.name}: no scripted sample output")

    # --- the model page ------------------------------------------------------------------

    def example_inputs(self, entry: Any) -> dict[str, Any]:
        """The inputs the page's snippets send (by default derived from the input schema:
        `bindings.ai.tasks.examples`)."""
        from bindings.ai.tasks import examples

        return examples.example_inputs(entry.input_schema)

    def snippets(self, entry: Any, base_url: str) -> list[Snippet]:
        from bindings.ai.tasks import snippets

        return snippets.standard(entry, self.example_inputs(entry), base_url)

    def playground(self, entry: Any) -> Playground | None:
        """By default a form built from the input schema (`bindings.ai.tasks.forms`)."""
        from bindings.ai.tasks import forms

        return forms.playground(entry, self.example_inputs(entry))

    # --- edge ai run ---------------------------------------------------------------------

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Inputs from this task's flags (`values` by `CliFlag.dest`, given ones only),
        then `extra` (`--input-json`) over them; one of `cli_needs` must be among them."""
        inputs = {**{k: v for k, v in values.items() if v is not None}, **extra}
        if self.cli_needs and not any(key in inputs for key in self.cli_needs):
            flags = " or ".join("--" + key.replace("_", "-") for key in self.cli_needs)
            raise CliInputError(f"give {flags} (or --input-json with the model's inputs)")
        return inputs

    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        """`cli_inputs`' result fitted to one model's schema (where models of the task
        name the same input differently, or take a form instead of fields)."""
        return inputs

    def cli_binary(self, result: Any) -> AiBinary | None:
        """The image or audio inside a JSON result (`{"image": base64}`), which `-o FILE`
        saves as the file itself; None when the result holds none."""
        return None

    def cli_output(self, result: Any) -> tuple[str, str | None]:
        """(stdout, stderr note) for a finished JSON result."""
        return json.dumps(unwrap(result), ensure_ascii=False, indent=2), None
