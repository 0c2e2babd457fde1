"""Widgets, one per file; ``main_window.MainWindow`` is the top level."""
