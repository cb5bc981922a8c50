"""Where the window remembers its layout between runs: geometry, splitters, the page shown, the theme
and each users page's columns.

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


THEMES = ("system", "light", "dark")
_THEME_KEY = "view/theme"


def stored_theme() -> str:
    """The theme chosen in View → Theme ("system" until one is chosen, or when the file says nonsense)."""
    value = layout_settings().value(_THEME_KEY, "system")
    return next((theme for theme in THEMES if theme == value), "system")


def store_theme(theme: str) -> None:
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}")
    settings = layout_settings()
    settings.setValue(_THEME_KEY, theme)
    settings.sync()
