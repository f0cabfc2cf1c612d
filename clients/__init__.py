"""Sample clients: the other side of the wire. They know only the wire and the contracts."""
