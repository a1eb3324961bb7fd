"""Adapters that plug Aha into RL trainers: TRL reward functions (``trl``), verl's ``compute_score`` functions
(``verl``) and its reward-loop manager (``verl_manager``, which imports verl).

OpenRLHF needs no adapter: point ``--remote_rm_url`` at ``http://HOST:PORT/get_reward`` (see ``service/openrlhf.py``).
"""
