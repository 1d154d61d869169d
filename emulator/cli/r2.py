"""`edge r2 object put|get|delete BUCKET/KEY`: the local half of `wrangler r2 object`, on
the buckets `edge dev` uses. BUCKET is the `bucket_name` (or the binding name)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emulator.cli.local_state import open_binding, run, state_options


def _split(path: str) -> tuple[str, str]:
    bucket, sep, key = path.partition("/")
    if not sep or not bucket or not key:
        raise click.BadParameter("expected BUCKET/KEY", param_hint="OBJECT_PATH")
    return bucket, key


@click.group("r2")
def r2() -> None:
    """Local R2 buckets: read and write edge dev's objects."""


@r2.group("object")
def object_() -> None:
    """Individual objects of a bucket."""


@object_.command("put")
@click.argument("object_path")
@state_options
@click.option("-f", "--file", "file", type=click.Path(exists=True, path_type=Path),
              help="Upload this file.")  # fmt: skip
@click.option("-p", "--pipe", is_flag=True, help="Upload standard input.")
@click.option("--content-type", "-ct", help="Stored as httpMetadata.contentType.")
@click.option("--cache-control", "-cc", help="Stored as httpMetadata.cacheControl.")
def put(object_path, file, pipe, content_type, cache_control, **state) -> None:
    """Upload to BUCKET/KEY."""

    if (file is None) == (not pipe):
        raise click.UsageError("give exactly one of --file and --pipe")
    bucket_name, key = _split(object_path)
    data = file.read_bytes() if file is not None else sys.stdin.buffer.read()
    bucket, _spec, _config, host = open_binding(
        "r2_buckets", bucket_name, keys=("bucket_name",), state=state
    )
    http = {"contentType": content_type, "cacheControl": cache_control}
    http = {k: v for k, v in http.items() if v is not None}
    obj = run(host, bucket.put(key, data, httpMetadata=http))
    click.echo(f"Uploaded {obj.key} ({obj.size} bytes, etag {obj.etag}) to {bucket.bucket_name}")


@object_.command("get")
@click.argument("object_path")
@state_options
@click.option("-f", "--file", "file", type=click.Path(path_type=Path), help="Write it here.")
def get(object_path, file, **state) -> None:
    """Download BUCKET/KEY (to standard output unless --file)."""

    bucket_name, key = _split(object_path)
    bucket, _spec, _config, host = open_binding(
        "r2_buckets", bucket_name, keys=("bucket_name",), state=state
    )

    async def read() -> bytes | None:
        obj = await bucket.get(key)
        return None if obj is None else await obj.arrayBuffer()

    data = run(host, read())
    if data is None:
        raise click.ClickException(f"The specified key does not exist: {key!r}")
    if file is not None:
        file.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@object_.command("delete")
@click.argument("object_path")
@state_options
def delete(object_path, **state) -> None:
    """Delete BUCKET/KEY."""

    bucket_name, key = _split(object_path)
    bucket, _spec, _config, host = open_binding(
        "r2_buckets", bucket_name, keys=("bucket_name",), state=state
    )
    run(host, bucket.delete(key))
    click.echo(f"Deleted {key} from {bucket.bucket_name}")
