"""gunicorn for the benchmark: the production settings less the access log (a line per hit)."""

timeout = 30
preload_app = True
accesslog = None
