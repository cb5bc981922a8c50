"""Local Descope-compatible service: HTTP (Starlette/uvicorn) over SQLite."""
