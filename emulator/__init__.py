"""edge: a local, offline emulator of Cloudflare Python Workers."""

__version__ = "0.1.0"
