"""Pure mixture planning for `make mix`: weights and options (config), document order (order),
the tokenizer (tokenizer), quotas and the short-domain rule (plan), bucketed hash-order selection
(select), the token shard format (shards), the manifest and realised shares (manifest) and the
terminal summary and plots (report). No Beam here: `pipeline/mix_job.py` calls these functions.
"""
