"""smartmall: commerce_api."""
