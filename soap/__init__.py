"""The SOAP adapter: SOAP 1.1 and a WSDL over the shared core (Spyne, lxml)."""
from . import compat  # noqa: F401  (before Spyne is imported: Spyne 2.14 on Python 3.12+)
