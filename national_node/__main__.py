"""`python -m national_node serve --port P --home DIR [--role energy]`: run the reference node on loopback,
as the national center or as an industry node (the role names its contract: national_node/contract.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from national_node.contract import ROLES
from national_node.settings import HOME_ENV, KEYS_ENV, ROLE_ENV, load_node_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m national_node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the node's HTTP API (keys from NATIONAL_NODE_KEYS)")
    serve.add_argument("--port", type=int, default=8737)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--home", default=os.environ.get(HOME_ENV), help=f"storage directory (or {HOME_ENV})")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--role",
        choices=sorted(ROLES),
        default=os.environ.get(ROLE_ENV) or "national",
        help=f"national center or industry node (or {ROLE_ENV})",
    )
    args = parser.parse_args(argv)
    if not args.home:
        parser.error(f"--home or {HOME_ENV} is required")
    if not os.environ.get(KEYS_ENV):
        parser.error(
            f"{KEYS_ENV} is not set: e.g. {KEYS_ENV}='37=<secret>' (keys come from the environment only)"
        )
    os.environ[HOME_ENV] = os.path.abspath(args.home)
    os.environ[ROLE_ENV] = args.role
    try:
        load_node_settings()  # refuse empty or short secrets and bad limits before binding the port
    except ValueError as exc:
        print(f"national node: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from national_node.app import app_from_env

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(app_from_env(), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
