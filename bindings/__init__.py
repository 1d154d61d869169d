"""Bindings: one module or package per `wrangler.toml` binding kind (see `bindings.registry`)."""
