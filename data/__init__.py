"""smartmall: data."""
