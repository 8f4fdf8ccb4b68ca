"""shift package."""
