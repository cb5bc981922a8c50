"""Icons and style sheets (the repository's top-level resources/ folder, installed as a package)."""
