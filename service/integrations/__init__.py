"""The client face: the HTTP client (``client``: ``AhaClient``, ``AsyncAhaClient``) and the adapters that plug Aha
into RL trainers through it: TRL reward functions (``trl``), verl's ``compute_score`` functions (``verl``) and its
reward-loop manager (``verl_manager``, which imports verl).

OpenRLHF needs no adapter: point ``--remote_rm_url`` at ``http://HOST:PORT/get_reward`` (served by
``service/api/openrlhf.py``).
"""
