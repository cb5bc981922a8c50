"""Where the window remembers its layout between runs: its geometry and each users page's columns.

A QSettings ini file in the console's config directory (`settings.paths`), so tests, which point
that directory at a temporary one, never read or write the user's layout.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from anonconsole.settings import paths

FILE_NAME = "layout.ini"


def layout_settings() -> QSettings:
    """The layout file, read and written through QSettings (ini format)."""
    return QSettings(str(paths.config_dir() / FILE_NAME), QSettings.Format.IniFormat)
