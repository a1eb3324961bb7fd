"""Adapters that plug Aha into RL trainers: TRL reward functions and verl's ``compute_score``.

OpenRLHF needs no adapter: point ``--remote_rm_url`` at ``http://HOST:PORT/get_reward`` (see ``service/openrlhf.py``).
"""
