"""Field deployment: the broker's TLS and ACL, the hub's CA, backups and restores."""
