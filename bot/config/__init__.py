"""Configuration: environment settings and the TOML site config (imports only ``commands``)."""
