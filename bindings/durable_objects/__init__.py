"""Durable Objects: the binding kind (`binding`), ids, storage, gates, alarms, RPC."""
