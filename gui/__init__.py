"""The desktop app: a thin Qt front end over ``core.service``."""
