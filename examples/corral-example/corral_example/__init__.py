"""An example third-party operation family for corral (docs/plugins.md)."""
