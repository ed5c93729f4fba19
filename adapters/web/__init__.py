"""The goal map in a browser: the pages `goalbot serve` serves under /map."""
