"""vcledger client: the protocol (encoding, keys, Merkle proofs, signed notes,
events, bundles) and the thin client that talks to a node.

Pure and offline-capable except for :mod:`client.http`, the one module that
opens network connections.  Never imports :mod:`node`.
"""
