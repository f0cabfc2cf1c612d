"""A bounded soak of the three servers: `.venv/bin/python -m soak --seconds 60 --concurrency 32` (`make soak`)."""
