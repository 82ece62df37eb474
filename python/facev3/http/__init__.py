"""HTTP: framework-free handlers (api) with a route table, settings, and two thin adapters,
Granian RSGI (rsgi_app) and Robyn (robyn_app)."""
