"""Policy value sets, as the PallyCon SDK's ``pallycon.config`` package."""
