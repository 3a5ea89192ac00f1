"""A benchmark-only app with one route that inserts one row, as a floor for HTTP costs."""
