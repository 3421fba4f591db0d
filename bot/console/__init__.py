"""The caseworker console: staff accounts, login and (later) the handover queue."""
