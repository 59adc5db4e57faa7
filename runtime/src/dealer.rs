//! The dealer: correlated randomness (Beaver and matrix triples, truncation pairs, AND triples, edaBits, random OTs), seed-compressed, bound to (plan hash, session id), consumed once.
