"""views layer (see ARCHITECTURE)."""
