"""The ceiling for the llama.cpp engine's concurrency curve: a minimal batched decode loop
written straight on llama-cpp-python's low-level API, no edge code.

It serves `clients` sequences the simplest fast way, as llama.cpp's `examples/batched`
does: every prompt of a round in one `llama_decode` (one `seq_id` each), then one batch
per step with the next token of every sequence still going, greedy, until each ends (an
end-of-generation token or `max_tokens`); then the next round. No queue, no streaming,
no per-request sampler settings, no prompt chunking: what is left is llama.cpp's own
throughput with that many sequences on this machine. Threads are the engine's
(`--threads`, else llama-cpp-python's defaults: half the cores for one token, all for a
batch), flash attention llama.cpp's default; extra buffer types are off on CPUs with AMX,
where ggml's AMX kernels crash (ggml-org/llama.cpp#20824).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path


def _amx() -> bool:
    try:
        return any(line.startswith("flags") and "amx_tile" in line.split()
                   for line in Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return False


class Ceiling:
    """One model, a fresh context per `clients` count; `run` gives per-round figures."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import llama_cpp as lib

        self.threads = threads  # None: llama-cpp-python's defaults, as the engine's

        self.lib = lib
        # Quiet through llama-cpp-python's own log callback (what Llama(verbose=False)
        # does): a callback of ours would be freed with this object while llama.cpp
        # still calls it, e.g. when the engine's context is freed later (a segfault).
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        lib.llama_backend_init()
        params = lib.llama_model_default_params()
        if _amx():
            params.use_extra_bufts = False
        self.model = lib.llama_model_load_from_file(str(path).encode(), params)
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.flash_attn = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED

    def tokens(self, text: str) -> list[int]:
        data = text.encode()
        buf = (self.lib.llama_token * (len(data) + 2))()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, len(buf), True, True)
        return buf[:n]

    def run(self, prompts: list[list[str]], max_tokens: int) -> tuple[int, float, list[float]]:
        """`prompts[round][client]`: (tokens generated, seconds, time to first token of each
        sequence)."""
        lib = self.lib
        clients = len(prompts[0])
        params = lib.llama_context_default_params()
        longest = max(len(self.tokens(p)) for batch in prompts for p in batch)
        # llama.cpp pads n_ctx to 256 and splits it per sequence: whole 256s each
        params.n_ctx = clients * -(-(longest + max_tokens + 16) // 256) * 256
        params.n_seq_max = clients
        params.n_batch = max(512, clients * longest)
        cpus = os.cpu_count() or 1
        params.n_threads = self.threads or max(cpus // 2, 1)
        params.n_threads_batch = self.threads or cpus
        params.flash_attn_type = self.flash_attn
        ctx = lib.llama_init_from_model(self.model, params)
        batch = lib.llama_batch_init(params.n_batch, 0, 1)
        greedy = lib.llama_sampler_init_greedy()
        memory = lib.llama_get_memory(ctx)
        total, ttfts = 0, []
        started = time.perf_counter()
        try:
            for texts in prompts:
                round_start = time.perf_counter()
                batch.n_tokens = 0
                pos, last = [], []
                for seq, text in enumerate(texts):
                    tokens = self.tokens(text)
                    for k, token in enumerate(tokens):
                        last_one = k == len(tokens) - 1
                        index = _add(batch, token, k, seq, last_one)
                    pos.append(len(tokens))
                    last.append(index)
                alive = set(range(clients))
                produced = [0] * clients
                while alive:
                    if lib.llama_decode(ctx, batch) != 0:
                        raise RuntimeError("llama_decode failed")
                    step, batch.n_tokens = [], 0
                    for seq in sorted(alive):
                        token = lib.llama_sampler_sample(greedy, ctx, last[seq])
                        if produced[seq] == 0:
                            ttfts.append(time.perf_counter() - round_start)
                        if lib.llama_vocab_is_eog(self.vocab, token):
                            alive.discard(seq)
                            continue
                        produced[seq] += 1
                        if produced[seq] >= max_tokens:
                            alive.discard(seq)
                        else:
                            step.append((seq, token))
                    for seq, token in step:
                        last[seq] = _add(batch, token, pos[seq], seq, True)
                        pos[seq] += 1
                total += sum(produced)
                lib.llama_memory_clear(memory, True)
        finally:
            lib.llama_sampler_free(greedy)
            lib.llama_batch_free(batch)
            lib.llama_free(ctx)
        return total, time.perf_counter() - started, ttfts

    def close(self) -> None:
        self.lib.llama_model_free(self.model)


def _add(batch, token: int, pos: int, seq: int, output: bool) -> int:
    i = batch.n_tokens
    batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
    batch.seq_id[i][0] = seq
    batch.logits[i] = output
    batch.n_tokens = i + 1
    return i
