"""Tasks: how each kind of Workers AI model is run, shown and called, one module per kind.

Cloudflare groups its catalogue by task ("Text Generation", "Text Embeddings",
"Text-to-Image", ...; `task.name` of each record). Everything that differs between tasks
lives in that task's module here, and `TASKS` is the only place that lists them (shaped
like `bindings.ai.engines.ENGINES`). Adding a task is one module and one row.

The contract
------------
A task module exposes `TASK`, an instance of a `bindings.ai.tasks.base.Task` subclass:

`name`, `capability`, `default_engine`
    Cloudflare's task name (the `TASKS` key) and the engine capability it needs.
    `default_engine` (None: the default route's) serves the task's models that no
    route names (`*=llamacpp`, the default, cannot embed: Text Embeddings has `encoder`).
    Engines declare `capabilities` (`frozenset({"text-generation"})`); a model whose
    route's engine lacks the capability gets a 5007 error naming the task, the route and
    the engines that could serve it (`cannot_serve`), never a 500. Several tasks may
    share a capability.

`prepare(entry, route, engine)`
    Work that depends only on what serves the model (Text Generation: the chat template
    of the served weights). Called once per model and route set; the service caches it.

`extra_inputs(entry, inputs)`
    Inputs the published schema leaves out but the model's API takes (the Responses
    API's `instructions`, `stream`, ...), checked by the task (5006); default none.

`build(entry, inputs, prepared)`
    The engine request from schema-validated inputs (defaults applied, undeclared keys
    dropped; nothing invalid gets here). Text Generation builds a `GenerationRequest`;
    other tasks a `TaskRequest(model, capability, inputs)` (or a subclass): binary
    inputs become `bytes` (`bindings.ai.binary.as_bytes`: byte arrays or base64 strings,
    as the schemas allow), and batched inputs (`text: str | list[str]`) a list, so
    engines see one shape.

`run(entry, engine, request)`
    Calls the engine (`generate()` for text generation, `infer()` for the rest) and
    shapes its answer as Cloudflare returns it: an `AttrDict` (or a list of them) for
    JSON, an `AiStream` of SSE frames for `stream: true`, an `AiBinary` (raw bytes with
    the output schema's content type, a `ReadableStream` to the worker) for images and
    audio. The REST API, `returnRawResponse` and `edge ai run` handle those three.

`sample(request, text)`
    A correctly shaped engine-level answer, for the scripted engines (`scripted` route,
    `emulator.testing.AiScript`), so they answer any task: `text` is the scripted reply
    where the task's output carries text (None: derive it from the inputs).

`snippets(entry, base_url)`, `playground(entry)`
    The model page's usage snippets (`base.Snippet`; generic builders in
    `tasks.snippets`) and its playground (`base.Playground`: a template under
    `bindings/ai/rest/templates/` and its context), or None where the task has none.

`binary_input`
    The input that bytes given alone go to (`"audio"`, `"image"`): the REST run
    endpoint's raw body (`curl --data-binary @file`), `env.AI.run(model, data)`.

`cli_flags`, `cli_needs`, `cli_inputs(values, extra)`, `cli_adapt(entry, inputs)`,
`cli_binary(result)`, `cli_output(result)`
    `edge ai run`'s input flags (`base.CliFlag`; flags of the same name must mean the
    same in every task: shared ones live in `base`), the inputs they make (`extra` is
    `--input-json`, merged last; one of `cli_needs` must be there), those inputs fitted
    to one model's schema (FLUX.2's form, MeloTTS' `prompt`), the image or audio inside a
    base64 JSON result (`-o FILE` saves the file itself), and what the command prints
    for a non-streamed, non-binary result.

Binary values (images, audio) and the sample files scripted engines answer with:
`bindings.ai.binary` (bytes in every form the schemas take) and `tasks.media` (PNG,
JPEG, MP3, WAV built and read with the standard library).

Schema questions ("accepts messages?", "streams?", max prompt length, binary output
type) are answered by the catalogue entry's methods, never by walking schemas here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bindings.ai.errors import AiError

if TYPE_CHECKING:
    from bindings.ai.tasks.base import Task

#: Cloudflare task name -> module exposing `TASK`.
TASKS: dict[str, str] = {
    "Text Generation": "bindings.ai.tasks.text_generation",
    "Text Embeddings": "bindings.ai.tasks.text_embeddings",
    "Text-to-Image": "bindings.ai.tasks.text_to_image",
    "Automatic Speech Recognition": "bindings.ai.tasks.speech_recognition",
    "Text-to-Speech": "bindings.ai.tasks.text_to_speech",
    "Image-to-Text": "bindings.ai.tasks.image_to_text",
    "Image-Text-to-Text": "bindings.ai.tasks.image_text_to_text",
    "Translation": "bindings.ai.tasks.translation",
    "Summarization": "bindings.ai.tasks.summarization",
    "Text Classification": "bindings.ai.tasks.text_classification",
    "Image Classification": "bindings.ai.tasks.image_classification",
    "Object Detection": "bindings.ai.tasks.object_detection",
    "Voice Activity Detection": "bindings.ai.tasks.voice_activity_detection",
}

_loaded: dict[str, Task] = {}


def get_task(name: str) -> Task | None:
    """The task named `name` (Cloudflare's `task.name`), or None when edge has none."""
    module = TASKS.get(name)
    if module is None:
        return None
    task = _loaded.get(module)
    if task is None:
        task = _loaded[module] = importlib.import_module(module).TASK
    return task


def all_tasks() -> list[Task]:
    """Every task in the table, in table order."""
    return [task for name in TASKS if (task := get_task(name)) is not None]


def for_capability(capability: str) -> Task | None:
    """The first task needing `capability` (what the scripted engines answer for)."""
    return next((task for task in all_tasks() if task.capability == capability), None)


def task_of(entry: Any) -> Task:
    """The task of a catalogue entry; 5007 naming the task when edge runs no such task."""
    task = get_task(entry.task_name)
    if task is not None:
        return task
    known = ", ".join(TASKS)
    if not entry.task_name:
        problem = (f"{entry.name} names no task (model.task.name in its catalogue entry), "
                   f"so edge cannot tell how to run it (tasks: {known})")
    else:
        problem = (f"{entry.name} is a {entry.task_name} model, and edge has no local "
                   f"{entry.task_name} pipeline yet (it runs: {known})")
    raise AiError(5007, problem)


def cannot_serve(entry: Any, task: Task, route: str, engine: Any) -> AiError:
    """The 5007 error for a model routed to an engine without its task's capability."""
    from bindings.ai.engines import engines_serving

    offer = sorted(getattr(engine, "capabilities", None) or {"text-generation"})
    able = engines_serving(task.capability)
    real = [name for name in able if name not in engines_serving("*")]
    if real:
        hint = (f"route it to an engine that does ({', '.join(able)}), e.g. "
                f"--ai-route '{entry.name}={real[0]}'")
    elif able:
        hint = (f"no local engine of edge runs {task.name} models yet; the {able[0]} "
                "engine answers them with correctly shaped sample outputs (tests, demos): "
                f"--ai-route '{entry.name}={able[0]}'")
    else:
        hint = f"no engine edge knows serves {task.capability} yet"
    return AiError(
        5007,
        f"{entry.name} is a {task.name} model, but its route {route} goes to engine "
        f"{getattr(engine, 'name', engine)}, which serves {', '.join(offer)}, not "
        f"{task.capability}: {hint}",
    )
