"""Image Classification: an image in (a byte array, or the raw bytes on the REST API),
`[{"label", "score"}, ...]` out, best first (developers.cloudflare.com/workers-ai/
models/resnet-50: ImageNet's labels, the top five).

Engine request (`TaskRequest.inputs`): `image` (bytes). Engine answer: `[{"label",
"score"}]`. The scripted sample puts the scripted text first (echo: the image's type
and size, e.g. "PNG image 512x512"), then four fixed ImageNet labels.
"""

from __future__ import annotations

from typing import Any

from bindings.ai.binary import as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.base import IMAGE_FLAG, Task, best_first

OTHERS = ("Egyptian cat", "tabby, tabby cat", "tiger cat", "lynx, catamount")


def describe(image: bytes) -> str:
    """What the scripted samples call an image they cannot see: its type and size."""
    kind = media.media_type(image, "image/unknown").split("/")[1].upper()
    size = media.image_size(image)
    return f"{kind} image" + (f" {size[0]}x{size[1]}" if size else "")


class ImageClassification(Task):
    name = "Image Classification"
    capability = "image-classification"
    binary_input = "image"
    cli_needs = ("image",)
    cli_flags = (IMAGE_FLAG,)

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        image = as_bytes(inputs.get("image"), field="image")
        return TaskRequest(entry.name, self.capability, {"image": image})

    def shape(self, entry: Any, output: Any) -> Any:
        return best_first(output) if isinstance(output, list) else super().shape(entry, output)

    def sample(self, request: TaskRequest, text: str | None) -> list[dict[str, Any]]:
        first = describe(request.inputs["image"]) if text is None else text
        scores = (0.9, 0.04, 0.03, 0.02, 0.01)
        labels = (first, *OTHERS)
        return [{"label": label, "score": score} for label, score in zip(labels, scores,
                                                                         strict=True)]




TASK = ImageClassification()
