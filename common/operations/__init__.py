"""Operation declarations: one module per family, the table in catalog.py. Pure: no I/O.

declaration.py says what a declaration is; test.py, node.py and command.py
declare the built-in families; catalog.py builds the table and validates
parameters; plugins.py finds third-party families (docs/plugins.md).
"""
