"""Controllers (issue 14): each owns one area's commands (QActions), signals and service calls, and
the main window wires it with a line: ``compare`` (two images side by side), ``generations`` (the
images of one generation), ``library`` (stars, tags, notes and the tag list)."""
