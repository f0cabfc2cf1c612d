"""Running the servers: the WSGI runner shared by REST and SOAP, and `python -m serve`."""
