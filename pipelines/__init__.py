"""smartmall: pipelines."""
