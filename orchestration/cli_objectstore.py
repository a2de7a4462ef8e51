"""`lakehouse objectstore serve`: an S3-compatible object store on loopback for tests and one host.

moto's server mode (PyPI `moto[server]`): it implements conditional writes (PutObject If-None-Match),
which delta-rs needs for safe concurrent commits. It keeps objects in memory: a restart loses them, so
it serves tests and demos; a province points LAKEHOUSE_LAKE_URI at its own object store.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

objectstore_app = typer.Typer(help="An S3-compatible object store on loopback (moto).", no_args_is_help=True)


@objectstore_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 9000,
    bucket: Annotated[list[str], typer.Option(help="bucket(s) to create at start")] = ["lake"],  # noqa: B006
) -> None:
    """Serve S3 on 127.0.0.1:PORT until SIGTERM/SIGINT; prints `ready http://127.0.0.1:PORT` when up."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except OSError as e:
        typer.echo(f"objectstore: cannot listen on 127.0.0.1:{port}: {e}", err=True)
        raise typer.Exit(1) from None
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    for name in bucket:
        s3.create_bucket(Bucket=name)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(f"ready {endpoint} buckets={','.join(bucket)}")
    stop.wait()
    server.stop()
