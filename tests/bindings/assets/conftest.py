"""A site on disk and its asset worker, for the assets tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings.assets.files import AssetFiles
from bindings.assets.server import AssetConfig, AssetServer
from emulator.sdk import Request


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


class Site:
    """An assets folder and `get(path)` through its asset worker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = AssetFiles(root)

    def write(self, files: dict[str, str | bytes]) -> Site:
        write_files(self.root, files)
        return self

    def server(self, **config) -> AssetServer:
        return AssetServer(self.files, AssetConfig(**config))

    def get(self, path: str, method: str = "GET", headers=None, *, router=False, **config):
        request = Request(f"http://example.com{path}", method=method, headers=headers)
        return self.server(**config).handle(request, as_router=router)


@pytest.fixture
def site(tmp_path) -> Site:
    root = tmp_path / "public"
    root.mkdir()
    return Site(root)
