"""`python -m resolver serve --home LAKEHOUSE_HOME --port P`: the identifier resolver on loopback.

Peers' keys come from LAKEHOUSE_RESOLVER_PEERS only (`<id>[:<key id>]=<secret>[@<not after>]`, comma
separated, the national node's syntax); without it every caller is anonymous.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resolver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the resolver's HTTP API")
    serve.add_argument("--port", type=int, default=8740)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--home", default=os.environ.get("LAKEHOUSE_HOME"), help="LAKEHOUSE_HOME")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--workers", type=int, default=1, help="processes (each holds the whole directory)")
    args = parser.parse_args(argv)
    if not args.home:
        parser.error("--home or LAKEHOUSE_HOME is required")
    os.environ["LAKEHOUSE_HOME"] = os.path.abspath(args.home)
    from national_node.keys import KeyRing, parse_keys
    from resolver.app import PEERS_ENV
    from warehouse.settings import SettingsError, load_settings

    try:
        load_settings()
        KeyRing(parse_keys(os.environ.get(PEERS_ENV, ""), variable=PEERS_ENV)).check_secrets()
    except (ValueError, SettingsError) as exc:
        print(f"resolver: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        "resolver.app:app_from_env",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
