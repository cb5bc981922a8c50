"""core layer (see ARCHITECTURE)."""
