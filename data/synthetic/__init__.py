"""Seeded, deterministic synthetic omnichannel retailer (see ``generate.generate``)."""
