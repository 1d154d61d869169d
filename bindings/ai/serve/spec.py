"""What `edge ai serve` needs to know about one catalogue model, from its serving data.

`serve_spec(entry)` reads the entry's serving block (`entry.serving`, owned by the
catalogue) and answers the questions a launcher asks: which Hugging Face repo, which
quantization and dtype, how long a context, roughly how much GPU memory, and which
servers (vllm, tgi, tei) can run it. A model without the data gets a `ServeError`
that says what to add to its entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.errors import EdgeError

#: servers edge can launch, in the order tried when the entry does not say.
SERVERS = ("vllm", "tgi", "tei")

#: Cloudflare task -> the servers that can run it, best first.
TASK_SERVERS: dict[str, tuple[str, ...]] = {
    "Text Generation": ("vllm", "tgi"),
    "Text Embeddings": ("tei", "vllm"),
}

class ServeError(EdgeError):
    """A model or request `edge ai serve` cannot act on; `str()` says what to do."""


@dataclass(frozen=True)
class ServeSpec:
    """One model as the launchers see it."""

    model: str
    task: str
    hf_repo: str
    quantization: str | None = None
    dtype: str | None = None
    context_length: int | None = None
    gpu_memory_gib: float | None = None
    servers: tuple[str, ...] = ()
    extra_args: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def pick_server(self, wanted: str | None) -> str:
        """The server to run: `wanted` if this model allows it, else the first it lists."""
        if not self.servers:
            raise ServeError(f"{self.model}: no server (vllm, tgi, tei) can serve a "
                             f"{self.task or 'model of unknown task'} model")
        if wanted is None:
            return self.servers[0]
        if wanted not in self.servers:
            raise ServeError(f"{self.model} cannot be served by {wanted}: its serving data "
                             f"lists {', '.join(self.servers)}")
        return wanted


def serve_spec(entry: Any) -> ServeSpec:
    """The `ServeSpec` of a catalogue entry, or a `ServeError` naming what is missing."""
    serving = entry.serving
    task = entry.task_name
    repo = serving.hf_repo
    if not repo:
        raise ServeError(
            f"{entry.name} has no serving data edge can launch: its entry "
            f"({entry.path}) needs a Hugging Face repo for the served format, e.g. in its "
            "`yaml edge-serving` block `format: awq` with `hf_repos: {awq: ORG/REPO}` "
            "(or `family:` and `size_b:` of a known family), plus `quantization` and "
            "`context_length`; see bindings/ai/catalogue/README.md"
        )
    quantization = (serving.quantization or "").lower() or None
    servers = tuple(s for s in serving.engines or TASK_SERVERS.get(task, ()) if s in SERVERS)
    return ServeSpec(
        model=entry.name,
        task=task,
        hf_repo=repo,
        quantization=quantization,
        dtype=serving.dtype,
        context_length=serving.context_length,
        # given in the data, else the catalogue's estimate (catalogue.serving)
        gpu_memory_gib=serving.gpu_memory_gib,
        servers=servers,
        extra_args=dict(serving.engine_args),
    )

