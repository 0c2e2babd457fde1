"""Non-modal dialogs: sign in (``sign_in.SignInDialog``) and settings (``settings.SettingsDialog``)."""
