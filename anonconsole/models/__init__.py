"""models layer (see ARCHITECTURE)."""
