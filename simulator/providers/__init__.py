"""Per-resource-type behaviour of the ARM simulator (see ``base.py`` and ``../PROVIDERS.md``)."""
