//! B — GMW: XOR-shared, bit-sliced tensors evaluated level by level with dealer AND triples.
