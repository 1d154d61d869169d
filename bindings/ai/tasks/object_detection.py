"""Object Detection: an image in (a byte array, or the raw bytes on the REST API),
`[{"score", "label", "box": {"xmin", "ymin", "xmax", "ymax"}}, ...]` out, in pixels
(developers.cloudflare.com/workers-ai/models/detr-resnet-50).

Engine request (`TaskRequest.inputs`): `image` (bytes). Engine answer: the list as
Cloudflare returns it. The scripted sample is one object, labelled with the scripted
text (echo: "object"), in a box over the middle half of the image (its size read from
its header; 640x480 when unknown).
"""

from __future__ import annotations

from typing import Any

from bindings.ai.binary import as_bytes
from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.base import IMAGE_FLAG, Task, best_first


class ObjectDetection(Task):
    name = "Object Detection"
    capability = "object-detection"
    binary_input = "image"
    cli_needs = ("image",)
    cli_flags = (IMAGE_FLAG,)

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        image = as_bytes(inputs.get("image"), field="image")
        return TaskRequest(entry.name, self.capability, {"image": image})

    def shape(self, entry: Any, output: Any) -> Any:
        return best_first(output) if isinstance(output, list) else super().shape(entry, output)

    def sample(self, request: TaskRequest, text: str | None) -> list[dict[str, Any]]:
        width, height = media.image_size(request.inputs["image"]) or (640, 480)
        box = {"xmin": width / 4, "ymin": height / 4, "xmax": width * 3 / 4,
               "ymax": height * 3 / 4}
        return [{"score": 0.99, "label": "object" if text is None else text, "box": box}]




TASK = ObjectDetection()
