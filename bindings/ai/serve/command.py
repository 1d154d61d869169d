"""A command line to run, with the environment it reads secrets from, printable exactly.

Secrets never appear in argv or output: a container gets `-e HF_TOKEN` with no value
(Docker and Podman read it from their own environment), and when the value lives in a
differently named variable (`--hf-token-env MY_TOKEN`) the printed command sets it by
reference, `HF_TOKEN="$MY_TOKEN" docker run ... -e HF_TOKEN ...`, never by value.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    #: variable the command reads -> variable of the user's environment holding the value
    env_from: dict[str, str] = field(default_factory=dict)
    #: plain settings, printed as they are (`CUDA_VISIBLE_DEVICES=0`)
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one shell line the user can paste."""
        prefix = [f"{name}={shlex.quote(value)}" for name, value in self.env.items()]
        prefix += [f'{name}="${source}"' for name, source in self.env_from.items()
                   if name != source]
        return " ".join([*prefix, shlex.join(self.argv)])

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment to run it with: `base` plus the settings and forwarded secrets."""
        environ = dict(os.environ if base is None else base)
        environ.update(self.env)
        for name, source in self.env_from.items():
            if source in environ:
                environ[name] = environ[source]
        return environ
