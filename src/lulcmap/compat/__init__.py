"""The original LifeWatch workflow's files, kept working for its users.

folders  the chip folder and CSVs: reading with the original's checks, writing as it does
chips    the ``chips`` command: a chip folder through a model into the abundance CSVs
centres  the ancillary CSV for chips whose centres are known
layout   the folder layout's names alone (the CLI's help names them without importing torch)

Nothing is imported here, so that ``lulcmap.compat.layout`` stays light.
"""
