"""The console adapter: the same conversation in a terminal, on the embedded database."""
