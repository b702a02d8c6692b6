"""vcledger node: LevelDB storage, the persistent Merkle log and status map,
ledger rules, block production and consensus, peer gossip and the HTTP API.

Imports the protocol from :mod:`client`; never the other way round.
"""
