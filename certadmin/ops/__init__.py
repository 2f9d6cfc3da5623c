"""Operating certadmin in production: configuration checks for serving, health and readiness
endpoints, Prometheus metrics, JSON logs with a request id."""
