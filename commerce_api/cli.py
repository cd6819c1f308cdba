"""``smartmall api ...``: serve, migrate, issue keys, sweep reservations, load the catalogue.

    smartmall api init-secrets                     # generate payment/carrier signing secrets (dev, demo)
    smartmall api migrate                          # create / upgrade the schema
    smartmall api create-key --role admin          # prints a key (shown once)
    smartmall api seed                             # stores, catalogue, members, stock from the warehouse marts
    smartmall api serve [--port 8000]              # OpenAPI docs at http://127.0.0.1:8000/docs
    smartmall api sweep                            # cancel orders whose reservation expired
    smartmall api export-stock                     # committed stock -> the landing zone (for replenishment)

The database is ``COMMERCE_DATABASE_URL`` (SQLite under ``$SMARTMALL_HOME/commerce/`` by default).
The API does not start without the signing secrets COMMERCE_WECHAT_PAY_SECRET, COMMERCE_ALIPAY_SECRET
and COMMERCE_CARRIER_SECRET (or the file ``init-secrets`` writes; ``smartmall demo`` writes one too).
"""

from __future__ import annotations

import argparse
import sys

from commerce_api.signing import MissingSecrets, init_secrets
from data.settings import Settings, SettingsError, load_settings


def _services(settings: Settings, migrate: bool = True):
    from commerce_api.app import build_services

    try:
        return build_services(settings, migrate=migrate)
    except MissingSecrets as exc:
        raise SystemExit(f"smartmall api: error: {exc}") from exc


def cmd_init_secrets(_: argparse.Namespace, settings: Settings) -> None:
    _, path, new = init_secrets(settings)
    made = f"generated {', '.join(new)}" if new else "all present already, kept"
    print(f"signing secrets in {path} ({made}); environment variables override them")


def cmd_migrate(_: argparse.Namespace, settings: Settings) -> None:
    _services(settings)
    print(f"schema at head on {settings.database_url}")


def cmd_create_key(args: argparse.Namespace, settings: Settings) -> None:
    from commerce_api.auth import create_key
    from commerce_api.db import transaction

    svc = _services(settings)
    try:
        with transaction(svc.sessions) as s:
            key = create_key(s, args.role, customer_id=args.customer_id, store_id=args.store_id, name=args.name)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(key)


def cmd_sweep(_: argparse.Namespace, settings: Settings) -> None:
    from commerce_api.sweeper import fail_expired_groups, sweep_expired

    svc = _services(settings)
    done = sweep_expired(svc.sessions, svc.payments, svc.settings)
    print(f"cancelled {len(done)} expired order(s)")
    print(f"failed {fail_expired_groups(svc.sessions, svc.payments, svc.settings)} group buy(s) past their deadline")


def cmd_export_stock(_: argparse.Namespace, settings: Settings) -> None:
    from commerce_api.stock_export import export_stock_positions

    path, rows = export_stock_positions(_services(settings).sessions, settings.landing)
    print(f"wrote {rows:,} SKU x location rows of committed stock to {path}; 'smartmall run' loads it")


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    from commerce_api.seed import seed_from_warehouse

    svc = _services(settings)
    counts = seed_from_warehouse(svc.sessions, args.warehouse or settings.warehouse)
    print("loaded into the commerce API: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from commerce_api.serve import serve

    _services(settings)  # migrate once, before workers start
    print(f"smartmall commerce API on http://{args.host}:{args.port}  (docs: http://{args.host}:{args.port}/docs)")
    serve(args.host, args.port, args.workers)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Add the API's sub-commands to ``parser`` (``smartmall api`` or this module's own); each sets
    ``api_func``, called with the parsed arguments and the settings."""
    sub = parser.add_subparsers(dest="api_command", required=True, metavar="COMMAND")
    sub.add_parser("init-secrets", help="generate the payment and carrier signing secrets into a file readable by "
                   "you only (development and demo installs)").set_defaults(api_func=cmd_init_secrets)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(api_func=cmd_migrate)
    p = sub.add_parser("create-key", help="issue an API key (printed once)")
    p.add_argument("--role", required=True, choices=["shopper", "store_staff", "marketer", "service", "admin"])
    p.add_argument("--customer-id", help="for a shopper key")
    p.add_argument("--store-id", help="for a store_staff key")
    p.add_argument("--name")
    p.set_defaults(api_func=cmd_create_key)
    p = sub.add_parser("seed", help="load stores, catalogue, members and stock from the warehouse marts")
    p.add_argument("--warehouse", help="DuckDB file (default: $SMARTMALL_HOME/warehouse/smartmall.duckdb)")
    p.set_defaults(api_func=cmd_seed)
    p = sub.add_parser("serve", help="run the API with uvicorn (workers get connections evenly from this process)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(api_func=cmd_serve)
    sub.add_parser("sweep", help="cancel orders whose reservation expired").set_defaults(api_func=cmd_sweep)
    sub.add_parser("export-stock", help="write committed stock (reserved, allocated) to the landing zone "
                   "for replenishment").set_defaults(api_func=cmd_export_stock)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="smartmall api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_commands(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"smartmall api: error: {exc}") from None
    args.api_func(args, settings)


if __name__ == "__main__":
    main(sys.argv[1:])
