"""Languages, gettext catalogs (Babel), locale formatting and language identification."""
