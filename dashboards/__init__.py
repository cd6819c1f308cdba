"""smartmall: dashboards."""
