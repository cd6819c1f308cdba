"""``smartmall``: the front door. Generate or import data, run the pipeline, look at the result.

Typical first run::

    smartmall demo                      # synthetic retailer -> warehouse, end to end
    smartmall import online-retail      # or real data: UCI Online Retail ...
    smartmall run                       # ... then ingest + dbt build on what landed
    smartmall status                    # what is in the warehouse, what was quarantined
    smartmall ui                        # the Dagster UI on the same project
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import NoReturn

from data.settings import SETTINGS_FILE, Settings, SettingsError, env_name, load_settings
from pipelines.environment import prepare_environment


def _say(msg: str) -> None:
    print(msg, flush=True)


def _progress_logger() -> None:
    """Progress lines of the assets (logger 'smartmall') go to the terminal, Dagster's chatter does not."""
    log = logging.getLogger("smartmall")
    if not log.handlers:
        handler = logging.StreamHandler(sys.__stdout__)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


# --------------------------------------------------------------------------- data in
def cmd_generate(args: argparse.Namespace, settings: Settings) -> None:
    from data.importers.landing import reset_landing
    from data.synthetic.generate import generate

    out = Path(args.out) if args.out else settings.landing
    reset_landing(out)
    _say(f"Generating the '{args.scale}' synthetic retailer (seed {args.seed}) into {out} ...")
    started = time.perf_counter()
    manifest = generate(out, args.scale, seed=args.seed, dirty_rate=args.dirty_rate, progress=_say)
    _say(f"Generated {manifest['start']}..{manifest['end']} in {time.perf_counter() - started:.0f}s: "
         + ", ".join(f"{k} {v:,}" for k, v in manifest["rows"].items()))


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    out = Path(args.out) if args.out else settings.landing
    since = date.fromisoformat(args.since) if args.since else None
    until = date.fromisoformat(args.until) if args.until else None
    started = time.perf_counter()
    if args.source == "online-retail":
        from data.importers.online_retail import DEFAULT_PATH, import_online_retail

        path = Path(args.path) if args.path else DEFAULT_PATH
        if not path.exists():
            raise SystemExit(f"error: {path} not found (pass --path to the UCI Online Retail parquet file)")
        manifest = import_online_retail(out, path, since, until)
    elif args.source == "complete-journey":
        from data.importers.complete_journey import import_complete_journey

        manifest = import_complete_journey(out, since, until)
    else:
        from data.importers.folder import ContractError, import_folder

        if not args.path:
            raise SystemExit("error: 'smartmall import folder' needs --path to your folder of files")
        try:
            manifest = import_folder(Path(args.path), out, append=args.append, progress=_say)
        except ContractError as exc:
            raise SystemExit(f"error: {exc}") from exc
    _say(f"Imported {manifest['source']} ({manifest['start']}..{manifest['end']}) into {out} in "
         f"{time.perf_counter() - started:.1f}s: " + ", ".join(f"{k} {v:,}" for k, v in manifest["rows"].items()))
    if manifest.get("ignored_columns"):
        _say(f"  columns outside the contract, not loaded: {manifest['ignored_columns']}")
    _say("Next: smartmall run")


# --------------------------------------------------------------------------- pipeline
def run_pipeline(settings: Settings, start: str | None = None, end: str | None = None, fresh: bool = False,
                 log_path: Path | None = None) -> bool:
    """Materialize the whole graph in process (ingest the landed days, then dbt build). True on success."""
    if fresh:
        from pipelines.warehouse import warehouse_resource

        warehouse_resource(settings).reset()
    prepare_environment(settings)
    _progress_logger()
    days = settings.landed_days()
    if not days:
        raise SystemExit(f"error: nothing has landed in {settings.landing}; run 'smartmall generate' or "
                         "'smartmall import ...' first")
    start, end = start or days[0], end or days[-1]
    log_path = log_path or settings.home / "logs" / "last_run.log"
    _say(f"Running the pipeline on {settings.landing} (feed days {start}..{end}); full log: {log_path}")
    return run_job(settings, "refresh", log_path,
                   {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})


def run_job(settings: Settings, name: str, log_path: Path, tags: dict[str, str] | None = None) -> bool:
    """Execute one job of the Definitions in process, its chatter to ``log_path``; True on success.
    Failures are summed up on the terminal: the user code's error and the failed checks."""
    from dagster import DagsterInstance

    from pipelines.definitions import build_defs

    job = build_defs(settings).resolve_job_def(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = job.execute_in_process(
            instance=DagsterInstance.get(),
            tags=tags or {},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
    _say(f"{'Pipeline' if name == 'refresh' else f'Job {name!r}'} {'succeeded' if result.success else 'FAILED'} "
         f"in {time.perf_counter() - started:.0f}s (Dagster run {result.run_id[:8]}).")
    _report_skips(result)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.event_specific_data is not None:
                error = getattr(event.event_specific_data, "error", None)
                while error is not None and error.cause is not None:  # the user code's error, not Dagster's wrapper
                    error = error.cause
                if error is not None:
                    _say(f"  {event.step_key}: {error.message.strip().splitlines()[0]}")
        for check in result.get_asset_check_evaluations():
            if not check.passed and check.severity.value == "ERROR":
                _say(f"  check {check.asset_key.to_user_string()}:{check.check_name} failed: {check.description}")
    return result.success


def _report_skips(result) -> None:
    """One line per mart skipped by design (too little data, or an optional input missing), with what
    would enable it: a skip is not a failure, so the run still exits 0."""
    from pipelines.skips import skipped_assets

    skipped = skipped_assets(
        (event.asset_key.path[-1], {k: v.value for k, v in event.materialization.metadata.items()})
        for event in result.get_asset_materialization_events())
    if skipped:
        _say("Skipped by design (the run still succeeds; each line says what input would enable it):")
        for name, message in sorted(skipped.items()):
            _say(f"  {name:<26} {message}")


def cmd_run(args: argparse.Namespace, settings: Settings) -> None:
    ok = run_pipeline(settings, args.start, args.end, fresh=args.fresh)
    if ok:
        print_status(settings)
        _where_to_look(settings)
    sys.exit(0 if ok else 1)


def cmd_api(args: argparse.Namespace, settings: Settings) -> None:
    args.api_func(args, settings)


def seed_commerce_api(settings: Settings) -> Settings:
    """Serve the warehouse's stores, catalogue, members and stock to the commerce API's database;
    returns the settings read again with the signing secrets (generated on a first install)."""
    from commerce_api.app import build_services
    from commerce_api.seed import seed_from_warehouse
    from commerce_api.signing import init_secrets
    from pipelines.warehouse import marts_file

    # a demo install signs its simulated payment callbacks with its own
    settings, path, new = init_secrets(settings)
    if new:
        _say(f"Generated the commerce API's signing secrets into {path} (readable by you only).")
    counts = seed_from_warehouse(build_services(settings).sessions, marts_file(settings))
    _say(f"\nCommerce API database ({settings.database_url}): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return settings


def demo_campaign(settings: Settings) -> bool:
    """A coupon campaign with a control group run through the API (its views posted as events), then
    the ``ingest`` job takes in that day's events and the ``marketing`` job reads the API back and
    builds ``marts.campaign_performance``."""
    from pipelines.demo_campaign import run_demo_campaign

    started = time.perf_counter()
    done = run_demo_campaign(settings)
    _say(f"\nDemo campaign {done['campaign_id']} (coupon to the 'lapsing' segment, {done['control']:,} of "
         f"{done['audience']:,} held out): {done['coupons_issued']:,} coupons issued; simulated shoppers: "
         f"{done['treatment_buyers']} treated and {done['control_buyers']} held-out members bought, "
         f"{done['coupons_used']} with the coupon, {done['exposed']:,} saw it in the app "
         f"({time.perf_counter() - started:.0f}s)")
    # the 'Promotion Viewed' events landed through POST /events: ingest that day, then measure
    return (run_job(settings, "ingest", settings.home / "logs" / "ingest-campaign-day.log",
                    {"dagster/partition": done["day"].isoformat()})
            and run_job(settings, "marketing", settings.home / "logs" / "marketing.log"))


def _start_generator(args: argparse.Namespace) -> subprocess.Popen:
    """``smartmall generate`` in a child process. Its per-day frames are small, so one polars
    thread does them faster than the pool's hand-offs; the other core is left to ``_warm_up``."""
    env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "generate", "--scale", args.scale, "--seed", str(args.seed),
         "--dirty-rate", str(args.dirty_rate)],
        env=env,
    )


def _warm_up(settings: Settings) -> None:
    """Import what the pipeline needs and parse the dbt project if it changed (seconds of
    single-threaded work) while the generator runs; nothing here reads the landing folder."""
    prepare_environment(settings)
    # dagster-dbt loads the adapter in process before dbt runs (not dbt.context/dbt.parser: importing
    # them configures the root logger, which would then print Dagster's chatter on the terminal)
    import dbt.adapters.duckdb  # noqa: F401
    import great_expectations  # noqa: F401
    import lightgbm  # noqa: F401

    import pipelines.assets.basket  # noqa: F401
    import pipelines.assets.customer  # noqa: F401
    import pipelines.assets.dbt  # noqa: F401  (parses the dbt project when needed)
    import pipelines.assets.demand  # noqa: F401
    import pipelines.assets.raw  # noqa: F401
    import pipelines.assets.recommend  # noqa: F401
    import pipelines.sensors  # noqa: F401


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    started = time.perf_counter()
    generator = _start_generator(args)
    try:
        _warm_up(settings)
    finally:
        code = generator.wait()
    if code != 0:
        sys.exit(f"error: the generator failed (exit code {code})")
    ok = run_pipeline(settings, fresh=True)
    if ok:
        settings = seed_commerce_api(settings)
        ok = demo_campaign(settings)
    if ok:
        print_status(settings)
        _say(f"Demo finished in {time.perf_counter() - started:.0f}s.")
        _where_to_look(settings)
    sys.exit(0 if ok else 1)


# --------------------------------------------------------------------------- looking
def _warehouse(settings: Settings):
    """The warehouse of the settings (DuckDB or ClickHouse), once something has been loaded."""
    from pipelines.warehouse import warehouse_resource

    warehouse = warehouse_resource(settings)
    if not warehouse.has_data():
        where = settings.warehouse if settings.warehouse_kind == "duckdb" else settings.clickhouse_url
        raise SystemExit(f"error: no warehouse at {where}; run 'smartmall demo' or 'smartmall run'")
    return warehouse


def print_status(settings: Settings) -> None:
    from pipelines.dbt_manifest import queryable_marts

    warehouse = _warehouse(settings)
    _say(f"\nIngestion into {settings.warehouse_kind} (raw = accepted + quarantined):")
    for table, rows_in, accepted, quarantined in warehouse.query(
        "SELECT source_table, sum(rows_in), sum(accepted), sum(quarantined) FROM raw.ingest_log GROUP BY 1 ORDER BY 1"
    ).rows():
        _say(f"  {table:<20} {rows_in:>12,} in  {accepted:>12,} accepted  {quarantined:>8,} quarantined")
    rules = warehouse.query(
        "SELECT source_table, rule, count(*) AS n FROM raw.quarantine GROUP BY 1, 2 ORDER BY 1, 3 DESC").rows()
    if rules:
        _say("  quarantined by rule: " + "; ".join(f"{t}.{r} {n:,}" for t, r, n in rules))
    _say("\nMarts (schema marts):")
    existing = set(warehouse.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'")["table_name"].to_list())
    wanted = [mart for mart in queryable_marts() if mart in existing]
    counts = dict(warehouse.query(" UNION ALL ".join(
        f"SELECT '{mart}' AS mart, count(*) AS n FROM marts.{mart}" for mart in wanted)).rows()) if wanted else {}
    for mart in queryable_marts():
        n = counts.get(mart, "missing")
        _say(f"  {mart:<26} {n:>12,} rows" if isinstance(n, int) else f"  {mart:<26} {n}")


def _data_docs(settings: Settings) -> str:
    from pipelines.quality import data_docs_index

    index = data_docs_index(settings.home)
    return f"file://{index}" if index else "no load validated yet"


def _where_to_look(settings: Settings) -> None:
    _say(
        "\nWhere to look next:\n"
        "  dashboards:          smartmall dashboards   (then open http://127.0.0.1:8501)\n"
        f"  warehouse:           {settings.warehouse if settings.warehouse_kind == 'duckdb' else settings.clickhouse_url}"
        f" ({settings.warehouse_kind})\n"
        "  query it:            smartmall sql \"SELECT * FROM marts.fct_funnel_daily ORDER BY funnel_date DESC LIMIT 10\"\n"
        "  quarantined records: smartmall quarantine\n"
        f"  data quality (GX):   {_data_docs(settings)}\n"
        "  model backtests:     smartmall evaluate\n"
        "  recommendations:     smartmall sql \"SELECT * FROM marts.customer_recommendations WHERE rank <= 10 LIMIT 20\"\n"
        "  campaign results:    smartmall sql \"SELECT * FROM marts.campaign_performance ORDER BY day LIMIT 5\"\n"
        "  the Dagster graph:   smartmall ui   (then open http://127.0.0.1:3000)\n"
        "  the commerce API:    smartmall api create-key --role admin; smartmall api serve  (docs: http://127.0.0.1:8000/docs)\n"
        f"  what the API serves: {_serving_state(settings)}  (smartmall serving list)\n"
    )


def print_settings(settings: Settings) -> None:
    _say("\nSettings (environment variable, effective value, where it came from, meaning; "
         f"a file {SETTINGS_FILE} in SMARTMALL_HOME may set them too):")
    for env, value, origin, meaning in settings.effective():
        _say(f"  {env:<34} {value:<8} {origin:<11} {meaning}")


def cmd_status(args: argparse.Namespace, settings: Settings) -> None:
    from pipelines.warehouse import warehouse_resource

    if warehouse_resource(settings).has_data():
        print_status(settings)
    else:  # the settings are worth seeing before the first run
        _say(f"\nNo warehouse at {settings.warehouse} yet: 'smartmall demo' or 'smartmall run' builds it.")
    print_settings(settings)


def cmd_sql(args: argparse.Namespace, settings: Settings) -> None:
    import polars as pl

    warehouse = _warehouse(settings)
    try:
        frame = warehouse.query(args.query)
    except Exception as exc:  # show the database's message, not a traceback
        raise SystemExit(f"error: {exc}") from exc
    if args.csv:  # a list or struct column as JSON
        nested = [c for c, t in frame.schema.items() if t.is_nested()]
        frame = frame.with_columns(pl.col(c).map_elements(lambda v: json.dumps(v.to_list() if isinstance(v, pl.Series)
                                                                                else v, default=str),
                                                          return_dtype=pl.Utf8) for c in nested)
        print(frame.write_csv(), end="")
        return
    with pl.Config(tbl_rows=40, tbl_cols=20, fmt_str_lengths=60):
        print(frame)


def cmd_quarantine(args: argparse.Namespace, settings: Settings) -> None:
    import polars as pl

    warehouse = _warehouse(settings)
    where = "WHERE source_table = ?" if args.table else ""
    params = [args.table] if args.table else []
    with pl.Config(tbl_rows=int(args.limit), fmt_str_lengths=120):
        print(warehouse.query(f"SELECT source_table, rule, any_value(reason) AS reason, count(*) AS records "
                              f"FROM raw.quarantine {where} GROUP BY 1, 2 ORDER BY records DESC", params))
        print(warehouse.query(f"SELECT source_table, _batch, regexp_extract(_source_file, '[^/]+$') AS file, "
                              f"source_row AS row, rule, record FROM raw.quarantine {where} "
                              f"ORDER BY source_table, _batch, file, row LIMIT {int(args.limit)}", params))


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> None:
    """Print the registry cards: data window, parameters, backtest and baseline metrics."""
    from serving.registry import Registry

    registry = Registry(settings.registry)
    names = [args.model] if args.model else registry.names()
    if not names:
        raise SystemExit(f"error: no model in {settings.registry}; run 'smartmall run' first")
    for name in names:
        versions = registry.versions(name)
        if not versions:
            raise SystemExit(f"error: no versions of model '{name}' in {settings.registry}")
        current = registry.current(name)
        latest = versions[-1]
        _say(f"\n== {name}: {len(versions)} version(s); in service: {current.version if current else 'none'}; "
             f"latest {latest.version} (checks {'passed' if latest.card['checks_passed'] else 'FAILED'})")
        _say(json.dumps({k: v for k, v in latest.card.items() if k != "parameters" or args.verbose}, indent=2,
                        default=str))
    print_settings(settings)


def cmd_ui(args: argparse.Namespace, settings: Settings) -> None:
    prepare_environment(settings)
    from pipelines.assets.dbt import ensure_manifest

    ensure_manifest()
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    cmd = [dagster, "dev", "-m", "pipelines.definitions", "--host", args.host, "--port", str(args.port)]
    _say("Starting: " + " ".join(cmd))
    os.execv(cmd[0], cmd)


def dashboards_command(settings: Settings, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line of the dashboards and their environment (they read the
    same settings: this installation's home)."""
    app = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
           "--server.address", host, "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "viewer"]
    env = {**os.environ, env_name("home"): str(settings.home)}
    return cmd, env


def _serving_state(settings: Settings) -> str:
    from serving import published

    kept = published.versions(settings.published_dir)
    live = published.current_number(settings.published_dir)
    if not kept:
        return "nothing published yet"
    state = f"version {live} live" if live else "no version live"
    newest = kept[-1]
    if newest.number != live and not newest.accepted:
        state += f"; version {newest.number} was refused: {'; '.join(newest.problems)}"
    return state


def cmd_serving(args: argparse.Namespace, settings: Settings) -> None:
    from serving import published

    root = settings.published_dir
    if args.serving_command == "list":
        live = published.current_number(root)
        kept = published.versions(root)
        if not kept:
            _say(f"No published version under {root} yet: 'smartmall run' publishes one.")
        for v in kept:
            state = "live" if v.number == live else ("ok" if v.accepted else "refused")
            _say(f"  {v.number:>5}  {v.created_at}  {state:<8} {sum(v.rows.values()):>12,} rows  "
                 + ("; ".join(v.problems) if v.problems else ", ".join(f"{k} {n:,}" for k, n in v.rows.items())))
    elif args.serving_command == "rollback":
        try:
            version = published.promote(root, args.version)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
        note = "" if version.accepted else f" (it had been refused: {'; '.join(version.problems)})"
        _say(f"version {version.number} is live{note}; the API switches on its next request")


def cmd_dashboards(args: argparse.Namespace, settings: Settings) -> None:
    from dashboards.snapshot import ClickHouseMarts, marts_source

    cmd, env = dashboards_command(settings, args.host, args.port)
    if isinstance(marts_source(settings), ClickHouseMarts):
        _say("The pages read the marts on the ClickHouse server (CLICKHOUSE_URL) directly.")
    elif not settings.marts_snapshot.exists():
        _say(f"Note: no marts snapshot at {settings.marts_snapshot} yet; the pages will say so until "
             "'smartmall demo' or 'smartmall run' has published one.")
    _say(f"smartmall dashboards on http://{args.host}:{args.port}  (Ctrl-C stops them)")
    os.execve(cmd[0], cmd, env)


def cmd_landing(args: argparse.Namespace, settings: Settings) -> None:
    manifest = settings.landing / "_manifest.json"
    _say(json.dumps(json.loads(manifest.read_text()), indent=2) if manifest.exists() else "no manifest")


# --------------------------------------------------------------------------- parser
def _generator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", choices=["small", "default", "large"], default="default",
                   help="small: tests, seconds; default: the demo; large: benchmarks (10M+ events, 1M orders)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dirty-rate", type=float, default=0.002, help="share of bad records injected (default 0.002)")


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line that says what is wrong and where the help is, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smartmall",
        description="smartmall: retail data platform. Land data (generate/import), run the pipeline "
                    "(Dagster + dbt on DuckDB), then look at the marts.",
        epilog="Files live under $SMARTMALL_HOME (default: <repo>/data): landing/, warehouse/, dagster_home/.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="generate the synthetic retailer and run the whole pipeline (start here)")
    _generator_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="write a synthetic retailer into the landing folder")
    _generator_args(p)
    p.add_argument("--out", help="landing folder (default $SMARTMALL_HOME/landing); emptied first")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("import", help="import real data or your own folder into the landing folder")
    p.add_argument("source", choices=["online-retail", "complete-journey", "folder"])
    p.add_argument("--path", help="online-retail: the parquet file; folder: your folder of CSV/Parquet files")
    p.add_argument("--since", help="only data on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", help="only data before this date (YYYY-MM-DD)")
    p.add_argument("--append", action="store_true", help="folder: add to the landing folder instead of replacing it")
    p.add_argument("--out", help="landing folder (default $SMARTMALL_HOME/landing)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("run", help="ingest what landed and build every dbt model (in process)")
    p.add_argument("--start", help="first feed day to (re)load, default the first landed day")
    p.add_argument("--end", help="last feed day to (re)load, default the last landed day")
    p.add_argument("--fresh", action="store_true", help="delete the warehouse first")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="row counts of raw tables, quarantine and marts")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("quarantine", help="records refused at ingestion, by rule, with examples")
    p.add_argument("--table", help="only this raw table")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("sql", help="run a read-only SQL query on the warehouse (in its own SQL: DuckDB's or "
                                   "ClickHouse's)")
    p.add_argument("query")
    p.add_argument("--csv", action="store_true", help="print the result as CSV (for scripts)")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("landing", help="show what is in the landing folder (its manifest)")
    p.set_defaults(func=cmd_landing)

    p = sub.add_parser("evaluate", help="print the model registry cards: backtest metrics beside the baselines")
    p.add_argument("model", nargs="?", help="one model (clv, churn); default all")
    p.add_argument("--verbose", action="store_true", help="include the parameters")
    p.set_defaults(func=cmd_evaluate)

    from commerce_api import cli as api_cli

    p = sub.add_parser("api", help="the commerce API: serve, migrate, seed, create-key, sweep (see 'smartmall api -h')",
                       description=api_cli.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    api_cli.add_commands(p)
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("serving", help="the versions of what the models know that the API serves: list, rollback")
    serving_sub = p.add_subparsers(dest="serving_command", required=True, metavar="COMMAND")
    serving_sub.add_parser("list", help="every kept version: live, ok or refused (and why), rows per table")
    q = serving_sub.add_parser("rollback", help="make a kept version live (the API switches without a restart)")
    q.add_argument("version", type=int)
    p.set_defaults(func=cmd_serving)

    p = sub.add_parser("dashboards", help="start the analysts' and marketers' dashboards (Streamlit)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_dashboards)
    p = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this project")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"smartmall: error: {exc}") from None
    try:
        args.func(args, settings)
    except SettingsError as exc:  # a setting only a command needs (the ClickHouse URL of the warehouse)
        raise SystemExit(f"smartmall: error: {exc}") from None
    except RuntimeError as exc:
        from pipelines.warehouse import WarehouseBusy  # here, not at the top: it loads Dagster

        if isinstance(exc, WarehouseBusy):
            raise SystemExit(f"smartmall: {exc}") from None
        raise


if __name__ == "__main__":
    main()
