"""Storage: tables, migrations and one module per aggregate. Knows tables, not HTTP."""
