"""The llama.cpp engine's worker thread: owns one `Llama`, runs one generation at a time.

A `Llama` object is not thread-safe and its calls block, so the engine hands each request
to this thread as a `Job` through a FIFO `queue.Queue`; text chunks, the final `Usage`
(or an `AiError`) and an end marker travel back to the caller's event loop with
`call_soon_threadsafe`. The caller's `cancel` flag is checked before every token. The
engine (`llamacpp.LlamaCppEngine`) is only used for its settings and counters.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bindings.ai.engines.base import GenerationRequest, Usage
from bindings.ai.engines.llama_load import new_llama
from bindings.ai.engines.stops import StopMatcher
from bindings.ai.errors import AiError, context_exceeded, internal, out_of_capacity

if TYPE_CHECKING:
    from bindings.ai.engines.llamacpp import LlamaCppEngine

log = logging.getLogger("edge.ai.llamacpp")

#: Sent after the last item of every job.
END = object()


@dataclass(eq=False)
class Job:
    """One request: its `Llama.generate` keyword arguments, and the way back to its caller."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    params: dict[str, Any]
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


class Worker:
    """The thread that owns one `Llama`: loads it, then serves jobs one at a time, FIFO."""

    def __init__(self, engine: LlamaCppEngine) -> None:
        self.engine = engine
        self.jobs: queue.Queue[Job | None] = queue.Queue()
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

    def _reject(self, job: Job) -> None:
        job.send(out_of_capacity(f"the llama.cpp engine for {self.engine.label} shut down"))
        job.send(END)
        job.finish()

    def _load(self) -> Any:
        engine = self.engine
        try:
            import llama_cpp  # noqa: F401
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
            llm = new_llama(
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

    def _serve(self, job: Job) -> None:
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
            Generation(self.llm, job, self).run()
        except AiError as exc:
            job.send(exc)
        except Exception as exc:  # a llama.cpp failure must not kill the worker
            log.exception("llama.cpp generation failed")
            job.send(internal(f"llama.cpp generation failed: {type(exc).__name__}: {exc}"))
        finally:
            job.send(END)
            job.finish()


class Generation:
    """One request on the worker thread: tokenize, check the context, sample, stream."""

    def __init__(self, llm: Any, job: Job, worker: Worker) -> None:
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
        stops = StopMatcher(request.stop)
        is_eog = self.lib.llama_vocab_is_eog
        generated = 0
        stopped = False
        tokens_iter = self.llm.generate(tokens, reset=True, **job.params)
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
            # Bytes still pending are a character the token budget cut in half: not text,
            # so they are dropped rather than sent as U+FFFD.
            tail = stops.flush("")
            if tail:
                job.send(tail)
        return generated
