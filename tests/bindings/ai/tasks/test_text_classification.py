"""Classifiers and rerankers: best first, top_k, a scripted label, an engine's own scores."""

import pytest

from bindings.ai.catalogue import load_catalogue
from bindings.ai.routing import RouteLayer, RouteTable, parse_routes
from bindings.ai.service import AiService
from bindings.ai.tasks.text_classification import overlap
from emulator.testing.ai_script import AiScript, output

RERANKER = "@cf/baai/bge-reranker-base"
SST2 = "@cf/huggingface/distilbert-sst-2-int8"
CONTEXTS = [{"text": "dogs bark"}, {"text": "a cyberpunk cat"}, {"text": "a cat"}]


def service(engine) -> AiService:
    svc = AiService(load_catalogue([]), RouteTable([RouteLayer("t", tuple(parse_routes([])))]))
    svc.set_engine("*", engine)
    return svc


async def test_reranker_results_are_best_first_cut_to_top_k():
    svc = service(AiScript({"*": "x"}))
    result = await svc.run(RERANKER, {"query": "cyberpunk cat", "contexts": CONTEXTS})
    assert [item.id for item in result.response] == [1, 2, 0]
    assert [item.score for item in result.response] == [1.0, 0.5, 0.0]
    top = await svc.run(RERANKER, {"query": "cyberpunk cat", "contexts": CONTEXTS, "top_k": 1})
    assert top == {"response": [{"id": 1, "score": 1.0}]}


async def test_an_engines_scores_per_context_are_sorted_by_the_task():
    script = AiScript({RERANKER: output([0.1, 0.7, 0.4])})
    result = await service(script).run(RERANKER, {"query": "q", "contexts": CONTEXTS})
    assert [(r.id, r.score) for r in result.response] == [(1, 0.7), (2, 0.4), (0, 0.1)]


@pytest.mark.parametrize(("reply", "label"), [("NEGATIVE", "NEGATIVE"), ("POSITIVE", "POSITIVE")])
async def test_a_scripted_label_wins(reply, label):
    result = await service(AiScript({SST2: reply})).run(SST2, {"text": "fine"})
    assert result[0] == {"label": label, "score": 0.99} and len(result) == 2
    assert result[0].score > result[1].score


def test_overlap_is_the_share_of_query_words_found():
    assert overlap("Cyberpunk cat", "a CAT") == 0.5
    assert overlap("", "anything") == 0.0
