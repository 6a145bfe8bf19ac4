"""The pure layers: no Pulumi runtime, no I/O, one direction of data.

    config.py, types.py   the stack config as typed models (keys, types, defaults, bounds, descriptions)
    settings.py           validates the CLI's values against them, plus the checks across keys
    topology.py           settings -> groups -> containers -> logical nodes, names, ports, peers
    planning.py           settings + topology -> rollout waves, capacity plan, VM size
    services.py           the registry of infrastructure services (standard library only)
    clouds/               each cloud's region rules and machine catalog

Imports point down this list (services and clouds at the bottom); render/ sits above, and
components/ above both. Nothing here imports this package's __init__ for more than the docs.
"""
