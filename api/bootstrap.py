"""The API app's rows that must always exist (see core.bootstrap): the Support group's
grants here. Support sees every organization's keys (who made each, when and from where it
was last used: "was it our key that did this?" is a support ticket) and may revoke one that
leaked; it never sees a secret (only a hash is stored) and changes nothing else."""

# (app, model, codename, name)
SUPPORT_PERMISSIONS = [
    ("api", "apikey", "view_apikey", "Can view API key"),
    ("api", "apikey", "revoke_apikey", "Can revoke an API key"),
]
