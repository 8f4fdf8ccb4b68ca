"""ssae package."""
