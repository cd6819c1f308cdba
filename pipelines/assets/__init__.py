"""Dagster assets, grouped by domain: ingest (raw.*) and the dbt models."""
