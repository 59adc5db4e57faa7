//! The plan executor: runs a plan for one party (or both, in simulation) over a Channel with dealer material, step by step, one message per round per layer.
