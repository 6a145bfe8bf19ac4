"""The ComponentResources of the Aurigraph V11 cluster and the builders they share.

Layers, each importing only those below it (tests/test_structure.py): model/ (config, settings,
topology, plans; pure), render/ (config files from the model; pure), components/ (this package:
Pulumi resources), then tools/, bench/ and policy/ on top.
"""
