"""Text-to-Image: a prompt (and, for img2img and inpainting, an image and a mask) in, an
image out, in the shape each model's output schema gives (developers.cloudflare.com/
workers-ai/models/, each model's page):

* raw image bytes, a `ReadableStream` to the worker, with the schema's content type
  (Stable Diffusion, DreamShaper: `image/png`; Leonardo Phoenix: `image/jpeg`); the
  REST run endpoint answers the bytes with that type;
* `{"image": "<base64>"}` (FLUX.1 schnell, FLUX.2, Lucid Origin): a JPEG, as
  Cloudflare's own snippets decode it (`data:image/jpeg;base64,...`).

FLUX.2 models take their inputs as a multipart form (`{"multipart": {"body",
"contentType"}}`, the fields `prompt`, `width`, `height`, `steps`, `seed`, ...), read
here with the SDK's form parser, so they reach engines as the same fields.

Engine request (`TaskRequest.inputs`): `prompt`, `negative_prompt`, `width`, `height`,
`steps`, `seed`, `guidance`, `strength` (None when not given), `image` and `mask`
(bytes or None), `media_type` (the image type the model answers). Engine answer: the
image's bytes. The scripted sample is a solid image of the asked size whose colour
(PNG) or grey (JPEG) comes from the prompt.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bindings.ai.binary import AiBinary, as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.errors import bad_input
from bindings.ai.tasks import media, snippets
from bindings.ai.tasks.base import (
    IMAGE_FLAG,
    CliFlag,
    CliInputError,
    Snippet,
    Task,
)
from emulator.sdk.attrdict import AttrDict

DEFAULT_SIZE = 1024
FIELDS = ("prompt", "negative_prompt", "width", "height", "steps", "seed", "guidance",
          "strength")


def _multipart_fields(value: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a FLUX.2 `multipart` input (numbers as numbers, files as bytes)."""
    from emulator.sdk.formdata import Blob, parse_form_data

    body, content_type = value.get("body"), value.get("contentType") or ""
    try:
        form = parse_form_data(content_type, as_bytes(body, field="multipart.body"))
    except (TypeError, ValueError) as exc:
        raise bad_input(f"Error: multipart at '/multipart' is not a form: {exc}") from None
    fields: dict[str, Any] = {}
    for name, item in form.multi_items():
        if isinstance(item, Blob):
            fields.setdefault("image", item.data)
        else:
            fields[name] = _number(item) if name != "prompt" else item
    if not fields.get("prompt"):
        raise bad_input("Error: required properties at '/multipart' are 'prompt'")
    return fields


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class TextToImage(Task):
    name = "Text-to-Image"
    capability = "text-to-image"
    cli_flags = (
        CliFlag("--prompt", "What the image shows."),
        CliFlag("--negative-prompt", "What the image should not show."),
        CliFlag("--width", "Width in pixels.", int),
        CliFlag("--height", "Height in pixels.", int),
        CliFlag("--steps", "Diffusion steps.", int),
        CliFlag("--seed", "Random seed, for reproducible sampling.", int),
        IMAGE_FLAG,
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        given = dict(inputs)
        if isinstance(given.get("multipart"), Mapping):
            given.update(_multipart_fields(given.pop("multipart")))
        request = {key: given.get(key) for key in FIELDS}
        if request["steps"] is None:
            request["steps"] = given.get("num_steps")
        image = given.get("image", given.get("image_b64"))
        request["image"] = None if image is None else as_bytes(image, field="image")
        mask = given.get("mask")
        request["mask"] = None if mask is None else as_bytes(mask, field="mask")
        request["media_type"] = entry.binary_output() or "image/jpeg"
        for side in ("width", "height"):
            if request[side] is None:
                request[side] = entry.input_default(side)
        return TaskRequest(entry.name, self.capability, request)

    def shape(self, entry: Any, output: Any) -> Any:
        if not isinstance(output, bytes | bytearray | memoryview):
            return super().shape(entry, output)
        data = bytes(output)
        wanted = entry.binary_output()
        if wanted:
            return AiBinary(data, media.media_type(data, wanted))
        result = AttrDict()
        dict.update(result, image=base64.b64encode(data).decode())
        return result

    def sample(self, request: TaskRequest, text: str | None) -> bytes:
        inputs = request.inputs
        width, height = inputs.get("width"), inputs.get("height")
        if (not width or not height) and inputs.get("image"):
            width, height = media.image_size(inputs["image"]) or (width, height)
        width, height = width or DEFAULT_SIZE, height or DEFAULT_SIZE
        seed = f"{text if text is not None else inputs.get('prompt')}/{inputs.get('seed')}"
        colour = media.digest(seed)
        if inputs.get("media_type") == "image/png":
            return media.png(width, height, (colour[0], colour[1], colour[2]))
        return media.jpeg(width, height, colour[0])

    # --- the model page ------------------------------------------------------------------

    def snippets(self, entry: Any, base_url: str) -> list[Snippet]:
        items = snippets.standard(entry, self.example_inputs(entry), base_url)
        if entry.binary_output() or items[0].key != "worker":
            return items
        # `{"image": base64}`: the Worker decodes it and answers the JPEG itself.
        code = "import base64\n\n" + items[0].code.lstrip().replace(
            "        return Response.json(response)\n",
            '        image = base64.b64decode(response["image"])\n'
            '        return Response(image, headers={"content-type": "image/jpeg"})\n',
        ) if "import base64" not in items[0].code else items[0].code
        return [replace(items[0], code=code), *items[1:]]

    # --- edge ai run ---------------------------------------------------------------------

    def cli_inputs(self, values: Mapping[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        inputs = {key: value for key, value in values.items() if value is not None}
        if "steps" in inputs:  # most schemas name it num_steps; cli_adapt renames
            inputs["num_steps"] = inputs.pop("steps")
        inputs.update(extra)
        if "prompt" not in inputs and "multipart" not in inputs:
            raise CliInputError("give --prompt (or --input-json with the model's inputs)")
        return inputs

    def cli_binary(self, result: Any) -> AiBinary | None:
        data = base64.b64decode(result.image)
        return AiBinary(data, media.media_type(data))

    def cli_adapt(self, entry: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        if "num_steps" in inputs and not entry.accepts("num_steps") and entry.accepts("steps"):
            inputs["steps"] = inputs.pop("num_steps")
        if entry.accepts("multipart") and "multipart" not in inputs:
            from emulator.sdk.formdata import File, FormData
            from emulator.sdk.response import encode_multipart

            form = FormData()
            for key, value in inputs.items():
                key = "steps" if key == "num_steps" else key
                if key == "image":
                    form.append("input_image_0", File([value], "image"))
                else:
                    form.append(key, str(value))
            body, content_type = encode_multipart(form)
            inputs = {"multipart": {"body": body, "contentType": content_type}}
        return inputs


TASK = TextToImage()
