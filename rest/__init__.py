"""REST/JSON adapter (Flask)."""
