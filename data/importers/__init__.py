"""Importers: real data sets and your own files, written into the landing layout of ``data.contract``."""
