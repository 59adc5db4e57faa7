//! Exact per-step costs of a plan (rounds, bytes each way, ahead-of-query bytes, dealer bytes), the numbers the executor must reproduce and the cost model reads.
