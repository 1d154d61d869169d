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

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.image_classification import ImageClassification


class ObjectDetection(ImageClassification):
    """Takes its image and sorts its results as image classification does."""

    name = "Object Detection"
    capability = "object-detection"

    def sample(self, request: TaskRequest, text: str | None) -> list[dict[str, Any]]:
        width, height = media.image_size(request.inputs["image"]) or (640, 480)
        box = {"xmin": width / 4, "ymin": height / 4, "xmax": width * 3 / 4,
               "ymax": height * 3 / 4}
        return [{"score": 0.99, "label": "object" if text is None else text, "box": box}]




TASK = ObjectDetection()
