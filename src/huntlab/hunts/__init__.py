"""The OTRF ThreatHunter-Playbook's hunts in the lab.

``playbook`` finds and parses the hunts (MyST notebooks with a ``metadata.yaml``) and gets a
copy of the playbook; ``convert`` turns a hunt into a Jupyter notebook that loads its dataset
with huntlab. Nothing here does I/O at import time.
"""
