"""The llama.cpp objects behind the embedded engine, through llama-cpp-python's low-level API.

One `Runtime` is one GGUF loaded once: the model, one context whose KV cache holds
`parallel` sequences of `n_ctx` tokens each, one reusable `llama_batch`, and a sampler
chain per sequence. It knows nothing of requests or scheduling (`llamacpp_worker` does);
it is the handful of llama.cpp calls a continuous-batching loop needs, the way llama.cpp's
`examples/parallel` and its server slots make them: tokens of several sequences go into
one `llama_decode` with their own `seq_id` and position, and a sequence that leaves is
cut out of the cache with `llama_memory_seq_rm`.

Choices, each for a reason measured on the bundled SmolLM2 with this library version:

- The KV cache is split per sequence (`kv_unified = false`): each sequence attends to its
  own stream only, so its logits do not depend on what else is in the cache, and greedy
  text is the same alone or in a batch. A unified cache interleaves sequences' cells,
  which changes the summation order in attention (0 of 8 greedy texts matched).
- Flash attention off, the same sampler chain and the same thread counts as
  `llama_cpp.Llama`, so one request alone decodes exactly as raw llama-cpp-python does.
- `tokenize` may run on any thread (llama.cpp's vocabulary is read-only; its server
  tokenizes in HTTP threads while the main loop decodes). It splits the text before
  special tokens, which the tokenizer never merges across, so the tokens are the same as
  for the whole text, and it stops counting past a limit: llama.cpp's special-token
  partition grows quadratically with their number (50,000 chat turns took minutes), and
  a prompt that cannot fit needs no exact count.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bindings.ai.engines.llama_load import model_params
from bindings.ai.errors import AiError, internal, out_of_capacity

#: llama-cpp-python's own sampler defaults (`Llama._init_sampler`), kept for exactness.
PENALTY_LAST_N = 64
TYPICAL_P = 1.0

_backend_ready = False
_backend_lock = threading.Lock()


@dataclass(frozen=True)
class RuntimeConfig:
    """What to load: the file, sequences and their context, batch size, threads."""

    path: Path
    n_ctx: int
    parallel: int
    n_batch: int
    n_threads: int | None = None


class PromptTooLong(Exception):
    """The prompt is over the limit: `tokens` exactly, or more than that when counting
    stopped early (`exact` False)."""

    def __init__(self, tokens: int, *, exact: bool) -> None:
        super().__init__(tokens)
        self.tokens = tokens
        self.exact = exact


class Runtime:
    """A loaded model and its multi-sequence context (see the module docstring)."""

    def __init__(self, config: RuntimeConfig) -> None:
        import llama_cpp as lib

        self.lib = lib
        self.config = config
        _init_backend(lib)
        self.model = lib.llama_model_load_from_file(str(config.path).encode(), model_params())
        if not self.model:
            raise internal(f"llama.cpp could not load {config.path}: not a model it can read")
        self.ctx = None
        self.batch = None
        try:
            params = lib.llama_context_default_params()
            params.n_ctx = config.n_ctx * config.parallel
            params.n_seq_max = config.parallel
            params.kv_unified = False
            params.n_batch = config.n_batch
            params.n_ubatch = min(config.n_batch, 512)
            cpus = os.cpu_count() or 1
            params.n_threads = config.n_threads or max(cpus // 2, 1)
            params.n_threads_batch = config.n_threads or cpus
            params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
            self.ctx = lib.llama_init_from_model(self.model, params)
            if not self.ctx:
                raise internal(
                    f"llama.cpp could not create a context of {config.parallel} x "
                    f"{config.n_ctx} tokens for {config.path} (out of memory?)"
                )
            self.batch = lib.llama_batch_init(config.n_batch, 0, 1)
        except BaseException:
            self._free()
            raise
        self.memory = lib.llama_get_memory(self.ctx)
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        #: tokens per sequence: what was asked, unless llama.cpp gave each sequence less.
        self.n_ctx = min(config.n_ctx, lib.llama_n_ctx_seq(self.ctx))
        self.parallel = config.parallel
        self.n_batch = config.n_batch
        self.bos = lib.llama_vocab_bos(self.vocab)
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self._piece = ctypes.create_string_buffer(256)
        specials, self.max_token_bytes = self._scan_vocab()
        self._splitter = _splitter(specials)
        self._users = 0
        self._idle = threading.Condition()
        self.closed = False

    # --- text <-> tokens -----------------------------------------------------------------

    def prompt_tokens(self, text: str, *, limit: int) -> list[int]:
        """The prompt's tokens (BOS when the model asks for it, not doubled when the text
        starts with it); `PromptTooLong` once more than `limit` are counted. Any thread."""
        add_bos = self.add_bos
        tokens: list[int] = []
        with self._using():
            parts = self._parts(text)
            for i, part in enumerate(parts):
                tokens += self._tokenize(part.encode("utf-8"), add_bos and i == 0)
                if len(tokens) > limit + 1 and i < len(parts) - 1:  # +1: a doubled BOS
                    raise PromptTooLong(limit, exact=False)
        if add_bos and tokens[:2] == [self.bos, self.bos]:  # the template wrote BOS already
            tokens = tokens[1:]
        if len(tokens) > limit:
            raise PromptTooLong(len(tokens), exact=True)
        if not tokens:
            if self.bos < 0:
                raise AiError(5006, "Error: the prompt is empty")
            tokens = [self.bos]
        return tokens

    def _parts(self, text: str) -> list[str]:
        if self._splitter is None:
            return [text]
        cuts = [m.start() for m in self._splitter.finditer(text) if m.start() > 0]
        return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]

    def _tokenize(self, data: bytes, add_bos: bool) -> list[int]:
        size = len(data) + 2
        buf = (self.lib.llama_token * size)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_bos, True)
        if n < 0:  # cannot happen with one token per byte at most; be safe anyway
            size = -n
            buf = (self.lib.llama_token * size)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_bos, True)
        return buf[:n]

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (decode thread only: one shared buffer)."""
        lib = self.lib
        n = lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:
            self._piece = ctypes.create_string_buffer(-n)
            n = lib.llama_token_to_piece(self.vocab, token, self._piece, -n, 0, False)
        return self._piece.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    # --- decoding ------------------------------------------------------------------------

    def clear_batch(self) -> None:
        self.batch.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, output: bool) -> int:
        """Append one token of sequence `seq` at position `pos`; returns its batch index."""
        batch = self.batch
        i = batch.n_tokens
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = output
        batch.n_tokens = i + 1
        return i

    def decode(self) -> int:
        """`llama_decode` of the batch: 0 on success (llama.cpp's return codes otherwise)."""
        return self.lib.llama_decode(self.ctx, self.batch)

    def logits(self, index: int) -> Any:
        """A copy of the logits of batch entry `index` of the last decode."""
        import numpy as np

        row = self.lib.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(row, shape=(self.n_vocab,)).copy()

    def forget(self, seq: int, start: int = 0) -> bool:
        """Drop sequence `seq`'s cache from position `start` on (all of it by default)."""
        return bool(self.lib.llama_memory_seq_rm(self.memory, seq, start, -1))

    def cached(self, seq: int) -> int:
        """How many positions of sequence `seq` the cache holds."""
        return self.lib.llama_memory_seq_pos_max(self.memory, seq) + 1

    def sampler(self, params: dict[str, Any], seed: int) -> Sampler:
        return Sampler(self, params, seed)

    def grammar_sampler(self, grammar: str) -> Any:
        """A GBNF grammar sampler (root rule `root`); `ValueError` if llama.cpp refuses it.
        Reads only the vocabulary, so any thread may call it (the engine checks a grammar
        this way before its sequence reaches the decode thread)."""
        sampler = self.lib.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
        if not sampler:
            raise ValueError("llama.cpp could not parse the grammar")
        return sampler

    def free_sampler(self, sampler: Any) -> None:
        self.lib.llama_sampler_free(sampler)

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Free everything once no thread is tokenizing; later calls raise 3040."""
        with self._idle:
            self.closed = True
            while self._users:
                self._idle.wait()
        self._free()

    def _free(self) -> None:
        lib = self.lib
        if self.batch is not None:
            lib.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            lib.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            lib.llama_model_free(self.model)
            self.model = None

    def _using(self) -> _Use:
        return _Use(self)

    def _scan_vocab(self) -> tuple[list[tuple[str, int]], int]:
        """(special token texts with their attributes, the longest token in bytes)."""
        lib = self.lib
        special = lib.LLAMA_TOKEN_ATTR_CONTROL | lib.LLAMA_TOKEN_ATTR_USER_DEFINED
        special |= lib.LLAMA_TOKEN_ATTR_UNKNOWN
        buf = ctypes.create_string_buffer(1024)
        longest = 1
        specials = []
        for token in range(self.n_vocab):
            n = lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
            longest = max(longest, abs(n))  # negative: longer than the buffer, by that much
            attr = lib.llama_vocab_get_attr(self.vocab, token)
            if attr & special and n > 0:
                specials.append((buf.raw[:n].decode("utf-8", errors="replace"), attr))
        return specials, longest


class _Use:
    """Counts a thread inside the vocabulary, so `close` cannot free it under that thread."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __enter__(self) -> None:
        rt = self.runtime
        with rt._idle:
            if rt.closed:
                raise out_of_capacity(f"the llama.cpp engine for {rt.config.path.name} shut down")
            rt._users += 1

    def __exit__(self, *exc: object) -> None:
        rt = self.runtime
        with rt._idle:
            rt._users -= 1
            rt._idle.notify_all()


class Sampler:
    """One sequence's sampler chain, built exactly as `Llama._init_sampler` builds it."""

    def __init__(self, runtime: Runtime, params: dict[str, Any], seed: int) -> None:
        lib = runtime.lib
        self.lib = lib
        self.ctx = runtime.ctx
        self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        parts = [lib.llama_sampler_init_penalties(
            runtime.n_vocab, PENALTY_LAST_N, params["repeat_penalty"],
            params["frequency_penalty"], params["presence_penalty"],
        )]  # fmt: skip
        if params.get("grammar"):  # JSON mode (`bindings.ai.structured`), as Llama does
            parts.append(runtime.grammar_sampler(params["grammar"]))
        if params["temp"] == 0:
            parts.append(lib.llama_sampler_init_greedy())
        else:
            parts += [
                lib.llama_sampler_init_top_k(params["top_k"]),
                lib.llama_sampler_init_typical(TYPICAL_P, 1),
                lib.llama_sampler_init_top_p(params["top_p"], 1),
                lib.llama_sampler_init_min_p(params["min_p"], 1),
                lib.llama_sampler_init_temp(params["temp"]),
                lib.llama_sampler_init_dist(seed),
            ]
        for part in parts:
            lib.llama_sampler_chain_add(self.chain, part)  # the chain owns and frees them

    def sample(self, index: int) -> int:
        """Sample (and accept) a token from the logits of batch entry `index`."""
        return self.lib.llama_sampler_sample(self.chain, self.ctx, index)

    def sample_logits(self, logits: Any) -> int:
        """The same from saved logits: what `llama_sampler_sample` does, step by step."""
        import numpy as np

        lib = self.lib
        data = (lib.llama_token_data * len(logits))()
        view = np.frombuffer(data, dtype=np.dtype(
            [("id", np.int32), ("logit", np.float32), ("p", np.float32)]))
        view["id"] = np.arange(len(logits), dtype=np.int32)
        view["logit"] = logits
        view["p"] = 0.0
        candidates = lib.llama_token_data_array(data, len(logits), -1, False)
        lib.llama_sampler_apply(self.chain, ctypes.byref(candidates))
        token = candidates.data[candidates.selected].id
        lib.llama_sampler_accept(self.chain, token)
        return token

    def close(self) -> None:
        if self.chain is not None:
            self.lib.llama_sampler_free(self.chain)
            self.chain = None


def _splitter(specials: list[tuple[str, int]]) -> re.Pattern[str] | None:
    """A pattern finding the special tokens the text may be cut before without changing
    its tokens: llama.cpp matches specials longest first, so a special that overlaps or
    sits inside another as long is left out, and so is one that strips the whitespace
    around it (the cut would keep that whitespace in the part before)."""
    import llama_cpp as lib

    strip = lib.LLAMA_TOKEN_ATTR_LSTRIP | lib.LLAMA_TOKEN_ATTR_RSTRIP
    texts = [text for text, _ in specials]
    safe = []
    for text, attr in specials:
        if attr & strip or not text:
            continue
        rivals = [t for t in texts if t != text and len(t) >= len(text)]
        if any(text in t or _overlap(t, text) for t in rivals):
            continue
        safe.append(text)
    if not safe:
        return None
    safe.sort(key=len, reverse=True)
    return re.compile("|".join(re.escape(text) for text in safe))


def _overlap(a: str, b: str) -> bool:
    """Whether a suffix of one is a prefix of the other (a match of one could eat into b)."""
    for size in range(1, min(len(a), len(b))):
        if a.endswith(b[:size]) or b.endswith(a[:size]):
            return True
    return False


def _init_backend(lib: Any) -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            # llama-cpp-python routes llama.cpp's log to stderr unless its logger says
            # otherwise; loading a model prints pages of it. Quiet, as Llama(verbose=False).
            quiet = logging.getLogger("llama-cpp-python")
            if quiet.level == logging.NOTSET:
                quiet.setLevel(logging.ERROR)
            lib.llama_backend_init()
            _backend_ready = True
