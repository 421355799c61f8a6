"""File formats: the native graph archive (.gsg) and the profile file (.gsprof)."""
