"""ImageFX Studio core: everything the app does, without Qt."""
