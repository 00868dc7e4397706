"""Operation declarations and parameter validation (catalog.py). Pure: no I/O."""
