"""Text Classification: Cloudflare files two kinds of model under this task
(developers.cloudflare.com/workers-ai/models/distilbert-sst-2-int8, bge-reranker-base):

* classifiers (`text`): `[{"label", "score"}, ...]`, best first (SST-2: POSITIVE and
  NEGATIVE);
* rerankers (`query`, `contexts: [{"text"}]`, `top_k`): `{"response": [{"id",
  "score"}, ...]}`, best first, `id` the context's index, cut to `top_k`.

Engine request (`TaskRequest.inputs`): a classifier's `{"text"}`, or a reranker's
`{"query", "contexts": [str, ...]}` (engines tell them apart by `query`). Engine
answer: a classifier's `[{"label", "score"}]`, or a reranker's one score per context,
in the contexts' order (the task sorts and cuts). Scripted samples: a classifier's
scripted text is the winning label (echo: POSITIVE or NEGATIVE, from the text); a
reranker scores each context by the share of the query's words it contains.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bindings.ai.engines.base import TaskRequest
from bindings.ai.tasks import media
from bindings.ai.tasks.base import TEXT_FLAG, CliFlag, Task, best_first
from emulator.sdk.attrdict import wrap

LABELS = ("POSITIVE", "NEGATIVE")
_WORD = re.compile(r"\w+")


def overlap(query: str, text: str) -> float:
    """The share of the query's words that `text` contains (0..1)."""
    wanted = set(_WORD.findall(query.lower()))
    return len(wanted & set(_WORD.findall(text.lower()))) / len(wanted) if wanted else 0.0


class TextClassification(Task):
    name = "Text Classification"
    capability = "text-classification"
    cli_needs = ("text", "query")
    cli_flags = (
        TEXT_FLAG,
        CliFlag("--query", "A reranker's query (contexts: --input-json)."),
    )

    def build(self, entry: Any, inputs: dict[str, Any], prepared: Any) -> TaskRequest:
        if "query" in inputs:
            contexts = [str(item.get("text", "")) for item in inputs["contexts"]]
            request = {"query": inputs["query"], "contexts": contexts,
                       "top_k": inputs.get("top_k")}
        else:
            request = {"text": inputs["text"]}
        return TaskRequest(entry.name, self.capability, request)

    async def run(self, entry: Any, engine: Any, request: TaskRequest) -> Any:
        output = await engine.infer(request)
        if "query" not in request.inputs or not isinstance(output, list) or (
                output and isinstance(output[0], Mapping)):
            return self.shape(entry, output)
        ranked = sorted(enumerate(output), key=lambda pair: -float(pair[1]))
        top_k = request.inputs.get("top_k")
        return wrap({"response": [{"id": i, "score": float(score)}
                                  for i, score in ranked[:top_k or None]]})

    def shape(self, entry: Any, output: Any) -> Any:
        return best_first(output) if isinstance(output, list) else super().shape(entry, output)

    def sample(self, request: TaskRequest, text: str | None) -> list[Any]:
        inputs = request.inputs
        if "query" in inputs:
            return [round(overlap(inputs["query"], context), 6)
                    for context in inputs["contexts"]]
        if text is None:
            text = LABELS[0] if media.unit(inputs["text"]) >= 0.5 else LABELS[1]
        others = [label for label in LABELS if label != text]
        return [{"label": text, "score": 0.99}] + [
            {"label": label, "score": round(0.01 / len(others), 6)} for label in others]




TASK = TextClassification()
