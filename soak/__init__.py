"""A bounded soak of the three servers: `python -m soak --seconds 60 --concurrency 32` (`make soak`)."""
