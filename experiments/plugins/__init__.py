"""Worked vidnas plug-ins (see README.md here); load one with VIDNAS_PLUGINS=experiments.plugins.NAME."""
