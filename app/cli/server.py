"""``kefu serve``, ``kefu migrate`` and ``kefu worker``."""

from __future__ import annotations

import os

import typer

from app.cli.common import check_extra_tools, ensure_schema, settings_or_exit
from app.core import migrations
from app.observability import exposition


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind"),
        port: int = typer.Option(8000, help="Port to bind"),
        workers: int = typer.Option(1, help="Worker processes (needs PostgreSQL and Milvus)"),
    ) -> None:
        """Migrate the embedded database if needed, then serve the API."""
        import uvicorn

        settings = settings_or_exit()
        check_extra_tools(settings)
        ensure_schema(settings)
        if workers > 1 and (settings.is_embedded_db or not settings.milvus.uri):
            typer.echo(
                "error: --workers > 1 needs KEFU_DATABASE_URL and KEFU_MILVUS_URI: the embedded "
                "stores belong to one process",
                err=True,
            )
            raise typer.Exit(2)
        if workers > 1:
            # Each worker counts in its own files; /metrics adds them up.
            exposition.prepare_multiprocess(settings.data_dir / "metrics")
            # Read by each worker's settings: uvicorn replaces a dead worker on the shared
            # socket, and it must not take turns before its models are loaded.
            os.environ["KEFU_WARM_BEFORE_SERVING"] = "true"
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,  # kefu.access logs each request once, with its request id
            # X-Forwarded-For only from the configured proxies (KEFU_LIMIT_TRUSTED_PROXIES):
            # from anyone else it is the caller's to invent.
            proxy_headers=bool(settings.limits.trusted_proxies),
            forwarded_allow_ips=",".join(settings.limits.trusted_proxies) or None,
        )

    @cli.command()
    def migrate(
        revision: str = typer.Argument("head", help="Target revision"),
    ) -> None:
        """Apply database migrations (up to head by default)."""
        settings = settings_or_exit()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(settings.database_url, revision)
        typer.echo(f"database at {revision}", err=True)

    @cli.command()
    def worker(
        concurrency: int = typer.Option(2, help="Worker processes"),
        loglevel: str = typer.Option("INFO", help="Celery log level"),
        metrics_port: int = typer.Option(
            0,
            envvar="KEFU_WORKER_METRICS_PORT",
            help="Serve Prometheus metrics (GET /metrics) on this port; 0: none",
        ),
        metrics_host: str = typer.Option(
            "127.0.0.1", envvar="KEFU_WORKER_METRICS_HOST", help="Interface for the metrics"
        ),
    ) -> None:
        """Run a Celery worker consuming the ingestion queue."""
        settings = settings_or_exit()
        if not settings.celery.broker_url:
            typer.echo("error: set KEFU_CELERY_BROKER_URL to run a separate worker", err=True)
            raise typer.Exit(2)
        if metrics_port:
            # Set before the task modules create their counters: each pool process counts in
            # its own files, and the scrape adds them up.
            exposition.prepare_multiprocess(settings.data_dir / "worker-metrics")
            token = settings.observability.token
            exposition.serve_on_port(
                metrics_host,
                metrics_port,
                token=token.get_secret_value() if token is not None else None,
            )
        from ingestion.celery_app import celery_app

        celery_app.worker_main(
            [
                "worker",
                f"--concurrency={concurrency}",
                f"--loglevel={loglevel}",
                "-Q",
                settings.celery.ingestion_queue,
            ]
        )
