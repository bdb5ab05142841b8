"""The REST API: thin routes over the store, errors mapped to HTTP problems."""
