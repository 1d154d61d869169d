"""`edge ai serve`: start a vLLM, TGI or TEI server for a catalogue model, and route it.

The library behind `edge ai serve`, `edge ai ps` and `edge ai stop`, usable without
the CLI:

- `spec.serve_spec(entry)`: what a catalogue entry's serving data says (repo,
  quantization, dtype, context length, GPU memory need, servers that can run it).
- `servers`: the pinned images and each server's own flags.
- `plan.plan_models(...)`: replicas with their GPUs and free ports.
- `runtime`: Docker, Podman or the native command; found again by labels.
- `launch.serve_models(...)`: start, follow the logs (`progress`), wait for `/health`,
  write the route into `edge.toml`.
- `emit`: the same plan as a compose file or Kubernetes manifests.
"""

from bindings.ai.serve.spec import ServeError, ServeSpec, serve_spec

__all__ = ["ServeError", "ServeSpec", "serve_spec"]
