"""One module per exchange: every exchange quirk (URLs, field names, units) lives in its module."""
