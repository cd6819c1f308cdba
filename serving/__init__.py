"""smartmall: serving."""
