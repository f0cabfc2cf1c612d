"""The SOAP adapter: SOAP 1.1 and a WSDL over the shared core (Spyne, lxml)."""
