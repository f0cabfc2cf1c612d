"""`.venv/bin/python -m bench`: REST, SOAP and gRPC measured side by side, each against its bare framework."""
