//! Transport: the Channel trait, framing, TCP and in-memory channels, byte and round counters.
