"""smartmall: models."""
